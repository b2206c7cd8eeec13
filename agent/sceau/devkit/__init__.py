"""Development kit: throw-away PKI and SoftHSM2 token, local TSA/OCSP/CRL services, the bridge harness
(agent + native host + browser) and the independent-verifier helpers.

Used by `sceau demo`, the demo platform, the tests and the benchmarks. No runtime module imports it
(an import-linter contract checks this); `sceau demo` is the one entry into it.
"""
