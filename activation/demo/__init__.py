"""Synthetic brand generator behind `activate demo-data` (entry point: activation.demo_data.generate).

Modules, in the order a chunk of people flows through them:

- catalog: the brand's fixed reference data (categories, products, stores, campaigns, names, places).
- customers: people, their customer records in each channel, the identifier traps, identity links.
- trades: orders, order lines and coupons.
- marketing: consent events and campaign coupons that were never used.
- behaviour: AIPL behaviour events.
- sink: streaming Parquet / CSV writers that follow docs/landing-contract.md.
"""
