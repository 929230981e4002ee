"""Console users: people of one creditor who sign in with an email and a password."""
