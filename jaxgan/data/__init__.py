"""Data sources: any TFDS image dataset, a folder of images, an .npz of arrays, the offline
handwritten digits, 2-D Gaussian mixtures, arrays in memory, and any iterator of batches.

A source yields, for training step `s` and a batch `Layout`, this process's batch
  {'image': float32 (local_devices, num_batches, per_device_batch, H, W, C) in [-1, 1],
   'label': int32   (local_devices, num_batches, per_device_batch)}
(`image` is (..., 2) points for the mixtures), num_batches = d_steps, or d_steps + 1 when the
generator's update reads a real batch of its own (`Layout.g_batch`, `Loop.g_real_batch`).
For the built-in sources step s's batch is a pure function of (seed, s): each epoch is a
fresh permutation of the example indices drawn from (seed, epoch), so a run resumed at step k
reads exactly what the uninterrupted run read, without replaying the stream, and a run on 8
devices reads what a run on 1 device reads.
Several processes compute the same global batch indices and each reads only its own slice.

Image datasets (`config.data.dataset`):
  'digits'            scikit-learn's bundled digits (offline; the demo's and the tests').
  'folder'            every PNG/JPEG/WebP/BMP under `data.path`, recursively (sorted by
                      path); `data.labels='folders'`: the class is the first-level subfolder
                      (names sorted -> 0, 1, ...; `source.class_names`).
  'npz'               `data.path`: an .npz with `images` (N, H, W, C) or (N, H, W) uint8 and
                      optional `labels` (N,) integers.
  any other name      a TFDS dataset ('cifar10', 'mnist', 'celeb_a', 'lsun/bedroom', ...;
                      `name/config` picks a builder config; `data.split`, `data.data_dir`);
                      the image and label features are found from the builder's features
                      (`data.image_key`, `data.label_key` override), the number of classes is
                      the label feature's.

`data.mirror` (image sources): the trained-on images doubled with their horizontal mirror
images, as the official StyleGAN2-ADA and R3GAN datasets' `--mirror=1` (`xflip`): the
epoch's permutation runs over twice the examples, the second copy flipped, so every epoch
shows each image once as stored and once mirrored (see `IndexedSource`).

Every image goes through `convert_image`: 16-bit scaled to 8 bits, palettes expanded, alpha
composited over black, grey repeated to RGB (or colour turned grey with `data.channels=1`),
centre-cropped to a square and resized to `data.image_size` (a power of two, 32 to 256)
with PIL's Lanczos filter.

Storage (`data.cache`): 'memory' decodes the whole split once into uint8 arrays at the
training size; 'none' streams: each step reads and decodes only this process's examples by
index (folder: the files; npz: a memory map of an uncompressed .npz; TFDS: random access
through `tfds.data_sources`, which needs a dataset prepared as ArrayRecord) with a bounded
pool of `data.workers` threads, while `iterate`'s thread builds the next batches. 'auto'
holds the data in memory when it takes at most `data.cache_max_gb` decoded, else streams.
Both read the same indices and decode them with the same function, so a streamed source's
batches equal the in-memory ones bit for bit, and resume stays exact. Why not a tf.data
shuffle stream: it cannot resume mid-epoch without replaying the stream, and a process
could not read only its own slice of a global permutation.

An image that cannot be decoded (a corrupt or truncated file) or whose shorter side is
below `MIN_SIDE` pixels is skipped and counted: the next readable example in index order
stands in for it (a pure function of the files, so every process and every resume reads the
same), with one warning per file; `describe()` reports the count. A folder with no readable
image stops with one sentence.

Generated samples are shown (the training loop's sample pictures) and saved
(`jaxgan.tools.sample`) as the source's `sample_view` says: a grid for images, a scatter plot
for 2-D points (over the mode centres, with the mode statistics, for the mixtures), the
points as they are for other vectors (see `views`).

Your own source: any object with `example_shape`, `num_classes`, `prepare()` and
`batch(step, layout)` (see `Source`), and optionally a `sample_view`; or wrap a plain
iterator of global batches in `IterableSource` (which cannot rewind: a resumed run continues
from the iterator's position).

The package, one module per concern (each imports only those above it):
  pipeline.py     a step's `Layout`, the `Source` protocol, `iterate` (batches on the devices)
  views.py        how samples are shown and saved (`sample_view`, `Images`, `Points`, ...)
  sources.py      `IndexedSource` (per-epoch permutations), `ArraySource`, `IterableSource`
  images.py       `convert_image`: one image at the training size
  streaming.py    `DatasetSource`: a stored dataset in memory or streamed by index
  files.py        stored examples: a folder of images, an .npz
  toy.py          the offline digits and the 2-D Gaussian mixtures
  tfds_source.py  stored examples: a TFDS split; the offline TFDS name check
  build.py        sources from a config (`from_config`) and from a command-line spec
"""

# The public API, re-exported so that `jaxgan.data.X` names every part.
from jaxgan.data.build import from_config
from jaxgan.data.build import is_spec
from jaxgan.data.build import is_tfds
from jaxgan.data.build import reference_source
from jaxgan.data.build import SPEC_KINDS
from jaxgan.data.build import spec_source
from jaxgan.data.files import FILE_DATASETS
from jaxgan.data.files import Folder
from jaxgan.data.files import IMAGE_EXTENSIONS
from jaxgan.data.files import LABELS
from jaxgan.data.files import Npz
from jaxgan.data.images import BadImage
from jaxgan.data.images import CHANNELS
from jaxgan.data.images import convert_image
from jaxgan.data.images import IMAGE_SIZES
from jaxgan.data.images import MIN_SIDE
from jaxgan.data.images import read_image_file
from jaxgan.data.images import RESIZE
from jaxgan.data.pipeline import iterate
from jaxgan.data.pipeline import Layout
from jaxgan.data.pipeline import Source
from jaxgan.data.sources import ArraySource
from jaxgan.data.sources import IndexedSource
from jaxgan.data.sources import IterableSource
from jaxgan.data.sources import to_float
from jaxgan.data.streaming import CACHES
from jaxgan.data.streaming import DatasetSource
from jaxgan.data.streaming import image_chunks
from jaxgan.data.streaming import MAX_CONSECUTIVE_BAD
from jaxgan.data.streaming import Storage
from jaxgan.data.tfds_source import check_tfds_name
from jaxgan.data.tfds_source import Tfds
from jaxgan.data.toy import BUILTIN_DATASETS
from jaxgan.data.toy import load_digits
from jaxgan.data.toy import mixture_modes
from jaxgan.data.toy import MIXTURES
from jaxgan.data.toy import MixtureSource
from jaxgan.data.toy import sample_mixture
from jaxgan.data.views import Images
from jaxgan.data.views import Picture
from jaxgan.data.views import Points
from jaxgan.data.views import sample_view
from jaxgan.data.views import SampleView
from jaxgan.data.views import Vectors
