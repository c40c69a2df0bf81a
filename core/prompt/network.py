"""LiteMedSAM in PyTorch (our timm-free rebuild) and the two graphs exported to ONNX.

Needs torch: used once to convert the checkpoint (core.prompt.convert) and, optionally, to fine-tune
the decoder on cached embeddings. Run-time inference goes through ONNX Runtime (core.prompt.session).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from core.errors import ModelFileError
from core.prompt.sam_decoder import MaskDecoder, PromptEncoder
from core.prompt.tinyvit import TinyViT


class LiteMedSAM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image_encoder = TinyViT()
        self.prompt_encoder = PromptEncoder()
        self.mask_decoder = MaskDecoder()

    def decode(self, embedding: torch.Tensor, coords: torch.Tensor, labels: torch.Tensor):
        """(1,256,64,64) embedding, (B,N,2) points in the 256 frame, (B,N) labels -> logits (B,1,256,256), iou."""
        sparse = self.prompt_encoder.embed_points(coords, labels)
        dense = self.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        emb = embedding.expand(coords.shape[0], -1, -1, -1)
        return self.mask_decoder(emb, self.prompt_encoder.dense_pe(), sparse, dense)


def load_litemedsam(checkpoint: Path) -> LiteMedSAM:
    """Build the network and load a (verified) checkpoint strictly, tensors only (no pickle code)."""
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(f"LiteMedSAM checkpoint {checkpoint} is unreadable: {exc}") from exc
    model = LiteMedSAM()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelFileError(f"LiteMedSAM checkpoint does not match the network: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")
    return model.eval()


class EncoderGraph(nn.Module):
    def __init__(self, model: LiteMedSAM):
        super().__init__()
        self.encoder = model.image_encoder

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.encoder(image)


class DecoderGraph(nn.Module):
    def __init__(self, model: LiteMedSAM):
        super().__init__()
        self.model = model

    def forward(self, image_embeddings, point_coords, point_labels):
        return self.model.decode(image_embeddings, point_coords, point_labels)
