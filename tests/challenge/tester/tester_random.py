"""Seeded randomness mirroring C{tester-utils/random} and the tester's C{internal/utils.go}."""

from __future__ import annotations

import random

from tests.challenge.tester.constants import MAX_INT32, RANDOM_WORDS, TOPIC_UUID_PREFIX
from tests.challenge.tester.encoder import uuid_to_base64


class TesterRandom:
    """Seeded helpers with the same ranges and shapes as the tester's."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)

    def randint(self, low: int, high: int) -> int:
        """RandomInt: uniform in [low, high)."""
        return self.rng.randrange(low, high)

    def word(self) -> str:
        """RandomWord."""
        return self.rng.choice(RANDOM_WORDS)

    def words(self, count: int) -> list[str]:
        """RandomWords: ``count`` distinct words (repeats only past 10)."""
        pool = list(RANDOM_WORDS)
        while count > len(pool):
            pool = pool + pool
        return [pool[i] for i in self.rng.sample(range(len(pool)), count)]

    def string(self) -> str:
        """RandomString: six words joined by spaces."""
        return " ".join(self.words(6))

    def correlation_id(self) -> int:
        """getRandomCorrelationId: [0, MaxInt32 - 1)."""
        return self.randint(0, MAX_INT32 - 1)

    def invalid_api_version(self) -> int:
        """getInvalidAPIVersion: [1000, 2000)."""
        return self.randint(1000, 2000)

    def topic_uuid(self) -> str:
        """getRandomTopicUUID: fixed prefix + 12 random hex digits, no '+'/'/' in base64."""
        while True:
            candidate = TOPIC_UUID_PREFIX + "".join(f"{self.randint(0, 16):x}" for _ in range(12))
            encoded = uuid_to_base64(candidate)
            if "+" not in encoded and "/" not in encoded:
                return candidate

    def topic_uuids(self, count: int) -> list[str]:
        """getRandomTopicUUIDs: suffix %012x of i*1000 + [0, 1000), base64-safe."""
        uuids: list[str] = []
        for i in range(count):
            while True:
                candidate = TOPIC_UUID_PREFIX + "%012x" % (i * 1000 + self.randint(0, 1000))
                encoded = uuid_to_base64(candidate)
                if not any(ch in encoded for ch in "+-/_"):
                    uuids.append(candidate)
                    break
        return uuids
