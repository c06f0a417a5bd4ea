"""The runner contract, its registry, the contract check, declared parameters, plugins and the chance rows."""
