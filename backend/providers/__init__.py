"""Image providers. Each module here is one provider; see base.py for the contract."""
