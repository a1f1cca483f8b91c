"""A HyperLogLog counter with the interface Escargot's core/stats.py imports.

Escargot counts distinct active users per hour with the `HLL` package from
PyPI, which Debian does not ship. This module stands in for it when
Escargot is run as a benchmark peer (bench/run.sh puts this directory on
its PYTHONPATH): the benchmarks never read the count, but Escargot's
statistics code calls it on every login, so it is a real estimator, not a
no-op. Standard HyperLogLog (Flajolet et al. 2007) with the small-range
correction; p index bits, 2**p one-byte registers.
"""

import hashlib
import math


class HyperLogLog:
    def __init__(self, p):
        if not 4 <= p <= 18:
            raise ValueError("p must be between 4 and 18")
        self._p = p
        self._m = 1 << p
        self._reg = bytearray(self._m)

    def add(self, value):
        if isinstance(value, str):
            value = value.encode("utf-8")
        h = int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "big")
        index = h >> (64 - self._p)
        rest = h & ((1 << (64 - self._p)) - 1)
        rank = (64 - self._p) - rest.bit_length() + 1
        if rank > self._reg[index]:
            self._reg[index] = rank

    def cardinality(self):
        m = self._m
        alpha = 0.7213 / (1 + 1.079 / m) if m >= 128 else {16: 0.673, 32: 0.697, 64: 0.709}[m]
        estimate = alpha * m * m / sum(2.0 ** -r for r in self._reg)
        zeros = self._reg.count(0)
        if estimate <= 2.5 * m and zeros:
            estimate = m * math.log(m / zeros)
        return int(round(estimate))

    def registers(self):
        return bytearray(self._reg)

    def set_registers(self, registers):
        if len(registers) != self._m:
            raise ValueError("expected %d registers, got %d" % (self._m, len(registers)))
        self._reg = bytearray(registers)
