"""The MSME Voluntary Code of Practice: commitments, yearly performance reports, Union review, dossier."""
