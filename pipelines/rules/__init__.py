"""The warning rules: the engine that runs the rule folders (warehouse/rules/<RULE_ID>/) and the what-if."""
