"""Console progress bar, log file and TensorBoard, on the main rank only."""
from __future__ import annotations

import logging
import os
import sys
import time

from tqdm import tqdm


class TrainLogger:
    def __init__(self, exp_dir: str, name: str, is_main: bool, total_iter: int, start_iter: int,
                 use_tb: bool, quiet: bool = False):
        self.is_main = is_main
        self.log = logging.getLogger(f'srkit.train.{name}.{id(self)}')
        self.log.propagate = False
        self.log.setLevel(logging.INFO)
        self.tb = None
        self.pbar = None
        if not is_main:
            return
        stamp = time.strftime('%Y%m%d_%H%M%S')
        fh = logging.FileHandler(os.path.join(exp_dir, f'train_{name}_{stamp}.log'))
        fh.setFormatter(logging.Formatter('%(asctime)s %(levelname)s: %(message)s'))
        self.log.addHandler(fh)
        self.quiet = quiet
        if use_tb:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(os.path.join(exp_dir, 'tb_logger'))
        self.pbar = tqdm(total=total_iter, initial=start_iter, unit='it', dynamic_ncols=True,
                         disable=quiet or not sys.stderr.isatty() and os.environ.get('SRKIT_PBAR') != '1',
                         smoothing=0.1)

    def info(self, msg: str) -> None:
        if not self.is_main:
            return
        self.log.info(msg)
        if not self.quiet:
            if self.pbar is not None and not self.pbar.disable:
                self.pbar.write(msg)
            else:
                print(msg, flush=True)

    def scalars(self, values: dict, it: int, prefix: str = '') -> None:
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f'{prefix}{k}', v, it)

    def image(self, tag: str, img_chw, it: int) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, img_chw, it)

    def advance(self, n: int = 1, postfix: dict | None = None) -> None:
        if self.pbar is not None:
            self.pbar.update(n)
            if postfix:
                self.pbar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        if self.pbar is not None:
            self.pbar.close()
        if self.tb is not None:
            self.tb.close()
        for h in list(self.log.handlers):
            h.close()
            self.log.removeHandler(h)
