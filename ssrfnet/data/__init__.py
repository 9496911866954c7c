"""Training and evaluation data: crops, the training dataset and sampler, augmentation, packed audio, and the
data-wait meter of the training log."""

from ssrfnet.data.crops import crop_starts, make_crops, tile_crop
from ssrfnet.data.dataset import (
    CropDataset,
    DataError,
    read_spk2id,
    read_utt2spk,
    speaker_index,
    write_spk2id,
)
from ssrfnet.data.sampler import ShardedBatchSampler, make_loader
from ssrfnet.data.timing import DataWaitMeter, WaitInterval

__all__ = [
    "CropDataset", "DataError", "DataWaitMeter", "ShardedBatchSampler", "WaitInterval", "crop_starts",
    "make_crops", "make_loader", "read_spk2id", "read_utt2spk", "speaker_index", "tile_crop", "write_spk2id",
]
