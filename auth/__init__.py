"""Accounts and access: password hashing, tokens, roles, email verification, mail delivery."""
