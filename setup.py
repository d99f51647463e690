# setup.py never imports torch or srkit, so installing works before torch does.
import re
from pathlib import Path

from setuptools import find_packages, setup

version = re.search(r"__version__ = '([^']+)'", Path('srkit/__init__.py').read_text()).group(1)

setup(
    name='srkit',
    version=version,
    description='Super-resolution and image-translation GAN training, and realistic LR data',
    long_description=Path('README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['srkit', 'srkit.*', 'degradations', 'degradations.*']),
    package_data={'degradations': ['presets/*.yml']},
    python_requires='>=3.10',
    install_requires=[
        'torch>=2.1', 'torchvision', 'numpy', 'scipy', 'opencv-python-headless', 'lmdb',
        'albumentations', 'pyiqa', 'pyyaml', 'pydantic>=2', 'tqdm', 'tensorboard',
        'safetensors', 'onnx', 'onnxruntime', 'spandrel', 'scikit-image', 'ImageHash',
    ],
    entry_points={
        'console_scripts': [
            'srkit-train=srkit.cli.train:main',
            'srkit-lmdb=srkit.cli.lmdb:main',
            'srkit-infer=srkit.cli.infer:main',
            'srkit-eval=srkit.cli.eval:main',
            'srkit-interp=srkit.cli.interp:main',
            'srkit-degrade=srkit.cli.degrade:main',
            'srkit-sample=srkit.cli.sample:main',
            'srkit-export=srkit.cli.export:main',
            'srkit-dataset=srkit.cli.dataset:main',
        ],
    },
)
