"""Data: the CSV index, the dataset and loaders, augmentation, synthetic polygons, importers and checks."""

from .augmentation import make_augmentation
from .balance import (
    class_weight_table,
    inverse_frequency_weights,
    resolve_class_weights,
)
from .checks import (
    BadDataError,
    DataReport,
    check_dataset,
    check_index,
    check_index_file,
    format_report,
    summarise,
)
from .dataset import (
    IndexDataset,
    load_image,
    make_loaders,
    measured_sample,
    unaugmented,
)
from .importers import (
    ImportedIndex,
    folder_index,
    read_voc,
    render_boxes,
    voc_index,
)
from .index import DatasetError, class_names, read_index, write_index
from .polygons import (
    PolygonSample,
    PolygonSpec,
    generate_polygons,
    render_polygon_sample,
)
from .sampling import stratified_sample
from .shapes import write_shapes_folder

__all__ = [
    "BadDataError",
    "DataReport",
    "DatasetError",
    "ImportedIndex",
    "IndexDataset",
    "PolygonSample",
    "PolygonSpec",
    "check_dataset",
    "check_index",
    "check_index_file",
    "class_names",
    "class_weight_table",
    "folder_index",
    "format_report",
    "generate_polygons",
    "inverse_frequency_weights",
    "load_image",
    "make_augmentation",
    "make_loaders",
    "measured_sample",
    "read_index",
    "read_voc",
    "render_boxes",
    "render_polygon_sample",
    "resolve_class_weights",
    "stratified_sample",
    "summarise",
    "unaugmented",
    "voc_index",
    "write_index",
    "write_shapes_folder",
]
