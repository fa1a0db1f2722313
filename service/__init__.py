"""partner-authz: policy-as-code authorization for a partner (reseller) program."""
