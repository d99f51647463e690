"""srkit: super-resolution and image-translation GAN training on one engine.

Importing the package is cheap; the registries fill when their subpackages are
imported (``srkit.archs``, ``srkit.losses``, ``srkit.data``, ``srkit.models``).
"""
__version__ = '0.1.0'
