"""ssl.principal.mapping.rules against Kafka's SslPrincipalMapperTest cases."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kafkatwist.security.ssl_principal import NoMatchingRule, SslPrincipalMapper, parse_rules


class RuleParsingTests(SynchronousTestCase):
    """Kafka's testValidRules, testInvalidRules and testRulesSplitting."""

    def test_valid_rules(self) -> None:
        """Every rule Kafka's testValidRules accepts parses."""
        for rules in (
            "DEFAULT",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
            "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
            "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
            "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
        ):
            self.assertTrue(parse_rules(rules), rules)

    def test_invalid_rules(self) -> None:
        """Every rule Kafka's testInvalidRules refuses is refused."""
        for rules in (
            "default",
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT/U",
            "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
            "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        ):
            self.assertRaises(ValueError, parse_rules, rules)

    def test_rules_splitting(self) -> None:
        """Rules split, and print, as in Kafka's testRulesSplitting."""
        cases = [
            ("[]", ""),
            ("[DEFAULT]", "DEFAULT"),
            ("[RULE:/]", "RULE://"),
            ("[RULE:/.*]", "RULE:/.*/"),
            ("[RULE:/.*/L]", "RULE:/.*/L"),
            ("[RULE:/, DEFAULT]", "RULE://,DEFAULT"),
            ("[RULE:/, DEFAULT]", "  RULE:// ,  DEFAULT  "),
            ("[RULE:   /     , DEFAULT]", "  RULE:   /     / ,  DEFAULT  "),
            ("[RULE:  /     /U, DEFAULT]", "  RULE:  /     /U   ,DEFAULT  "),
            (
                "[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]",
                "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  ",
            ),
            ("[]", ",   , , ,      , , ,   "),
            ("[RULE:/, DEFAULT]", ",,RULE://,,,DEFAULT,,"),
            ("[RULE: /   , DEFAULT]", ",  , RULE: /   /    ,,,   DEFAULT, ,   "),
            ("[RULE:   /  /U, DEFAULT]", "     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,"),
            ("[RULE:\\/\\\\\\(\\)\\n\\t/\\/\\/]", "RULE:\\/\\\\\\(\\)\\n\\t/\\/\\//"),
            ("[RULE:\\**\\/+/*/L, RULE:\\/*\\**/**]", "RULE:\\**\\/+/*/L,RULE:\\/*\\**/**/"),
            (
                "[RULE:,RULE:,/,RULE:,\\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, "
                "RULE:, DEFAULT, /DEFAULT, DEFAULT]",
                "RULE:,RULE:,/,RULE:,\\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,"
                "RULE:, DEFAULT, /DEFAULT/,DEFAULT",
            ),
        ]
        for expected, rules in cases:
            self.assertEqual(
                str(SslPrincipalMapper.from_rules(rules)),
                f"SslPrincipalMapper(rules = {expected})",
                rules,
            )


class MappingTests(SynchronousTestCase):
    """Kafka's testSslPrincipalMapper and testCommaWithWhitespace."""

    def test_mapper(self) -> None:
        """The rules are tried in order; /L and /U change the case."""
        mapper = SslPrincipalMapper.from_rules(
            ", ".join(
                [
                    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
                    "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
                    "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
                    "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
                    "DEFAULT",
                ]
            )
        )
        self.assertEqual(mapper.name("CN=Duke,OU=ServiceUsers,O=Org,C=US"), "duke")
        self.assertEqual(mapper.name("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US"), "duke@sme")
        self.assertEqual(mapper.name("cn=duke,ou=sme,dc=mycp,dc=com"), "DUKE@SME")
        self.assertEqual(mapper.name("cN=duke,OU=JavaSoft,O=Sun Microsystems"), "DUKE")
        self.assertEqual(
            mapper.name("OU=JavaSoft,O=Sun Microsystems,C=US"),
            "OU=JavaSoft,O=Sun Microsystems,C=US",
        )

    def test_comma_with_whitespace(self) -> None:
        """An escaped comma inside the CN stays in the name."""
        mapper = SslPrincipalMapper.from_rules("RULE:^CN=((\\\\, *|\\w)+)(,.*|$)/$1/,DEFAULT")
        self.assertEqual(mapper.name("CN=Tkac\\, Adam,OU=ITZ,DC=geodis,DC=cz"), "Tkac\\, Adam")

    def test_literal_back_reference(self) -> None:
        """A $n beyond the pattern's groups is literal (escapeLiteralBackReferences)."""
        mapper = SslPrincipalMapper.from_rules("RULE:^CN=(.*?),.*$/$1@$4/")
        self.assertEqual(mapper.name("CN=a,O=b"), "a@$4")

    def test_no_matching_rule(self) -> None:
        """No rule applying is an error, as Kafka's NoMatchingRule."""
        mapper = SslPrincipalMapper.from_rules("RULE:^CN=x$/y/")
        self.assertRaises(NoMatchingRule, mapper.name, "CN=z")
