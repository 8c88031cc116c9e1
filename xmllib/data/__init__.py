"""Data: the CSV index, the dataset and loaders, augmentation, synthetic polygons."""

from .augmentation import make_augmentation
from .dataset import IndexDataset, load_image, make_loaders
from .index import DatasetError, class_names, read_index
from .polygons import PolygonSample, PolygonSpec, generate_polygons, render_polygon_sample

__all__ = [
    "DatasetError",
    "IndexDataset",
    "PolygonSample",
    "PolygonSpec",
    "class_names",
    "generate_polygons",
    "load_image",
    "make_augmentation",
    "make_loaders",
    "read_index",
    "render_polygon_sample",
]
