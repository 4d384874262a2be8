"""The premium and cooperative funds ledger: premium due, payments, fund splits; append-only."""
