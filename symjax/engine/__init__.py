"""Execution (plan, init, train, chunk store): plan a matrix once, compile one program per group, train its
chunks on the devices, resume, several hosts."""
