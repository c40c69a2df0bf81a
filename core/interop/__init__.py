"""Interoperability: instances from label maps, COCO import/export and mAP, nnU-Net hand-off."""
