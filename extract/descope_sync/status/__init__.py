"""`descope-sync status`: is every stream landing, and was anything lost? Read from the warehouse alone.

`read` gathers each stream's state, `findings` turns it into problems of one `checks.Check` each, `render`
prints it; docs/design.md ("What status checks") lists the checks and their exit codes.
"""
