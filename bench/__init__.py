"""The sync benchmark: Halo requests, time and memory of AUTO at 1,000 to 50,000 users, beside a naive baseline.

`python -m bench.run --sizes 1000,10000,50000 --sources azure,ldap --out bench/results.json [--frozen PATH]`;
see bench/README.md.
"""
