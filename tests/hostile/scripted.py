"""TorchScript modules for the corpus (torch.jit.script needs their source in a file).

TorchScript cannot import Python modules or call os functions, but it can call
every registered torch operator; `torch.from_file` reads any regular file the
process can open. These modules try that and raise what they read.
"""
from typing import List

import torch


class ReadFile(torch.nn.Module):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def forward(self, x):
        t = torch.from_file(self.path, False, 8, dtype=torch.uint8)
        vals: List[int] = t.long().tolist()
        raise RuntimeError("LEAK " + str(vals))
        return x


class Spin(torch.nn.Module):
    def forward(self, x):
        n = 0
        while True:
            n += 1
        return x + n
