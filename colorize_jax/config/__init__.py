"""Configs: the base config every recipe starts from (base), the GAN sections (gan), and
loading recipes by path and variant (recipes)."""
