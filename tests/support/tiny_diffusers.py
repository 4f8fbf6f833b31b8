"""Tiny random-weight diffusers pipelines, built in-process from configs.

The recipe is provider-apis.md section 6.3 (after diffusers' own fast tests): every part,
tokenizers included, is made here, so nothing is downloaded. Each pipeline is shaped like
the real model it stands in for (same classes, same ``model_index.json`` layout), so the
provider loads it through the same code as a real checkpoint. Importing this module
needs torch, diffusers, transformers and tokenizers (requirements-local.txt).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from diffusers import (  # noqa: E402
    AutoencoderKL,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    FluxPipeline,
    FluxTransformer2DModel,
    StableDiffusionPipeline,
    UNet2DConditionModel,
    ZImagePipeline,
    ZImageTransformer2DModel,
)
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import (  # noqa: E402
    CLIPTextConfig,
    CLIPTextModel,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3Model,
    T5Config,
    T5EncoderModel,
)

WORDS = ["a", "cat", "dog", "red", "blue", "photo", "of", "the", "in", "on", "user", "assistant"]
QWEN_TMPL = (
    "{% for m in messages %}<s> {{ m['role'] }} {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<s> assistant {% endif %}"
)

#: Folder names the provider recognises as its three catalogue models (the repos' names).
FOLDERS = {"flux": "FLUX.1-schnell", "zimage": "Z-Image-Turbo", "sd": "sd-turbo"}

#: Small sizes so a test image takes milliseconds; written to each folder's atelier.json.
TINY_SIZES = {
    "flux": {"1:1": [32, 32], "16:9": [48, 32]},
    "zimage": {"1:1": [32, 32], "16:9": [64, 32]},
    "sd": {"1:1": [32, 32], "16:9": [64, 32]},
}


def tiny_tokenizer(max_len: int, chat_template: str | None = None) -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(["<pad>", "<s>", "</s>", "<unk>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    t = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=max_len,
    )
    if chat_template:
        t.chat_template = chat_template
    return t


def tiny_clip(hidden_size: int, intermediate_size: int, heads: int, projection_dim: int | None = None) -> CLIPTextModel:
    extra = {"projection_dim": projection_dim} if projection_dim else {}
    return CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=0,
            hidden_size=hidden_size,
            intermediate_size=intermediate_size,
            num_attention_heads=heads,
            num_hidden_layers=2,
            vocab_size=64,
            hidden_act="gelu",
            max_position_embeddings=77,
            **extra,
        )
    )


def tiny_flux() -> FluxPipeline:
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
        guidance_embeds=False,
    )
    text_encoder = tiny_clip(32, 37, 4, projection_dim=32)
    text_encoder_2 = T5EncoderModel(
        T5Config(
            vocab_size=64,
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=2,
            decoder_start_token_id=0,
        )
    )
    vae = AutoencoderKL(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_tokenizer(77),
        text_encoder_2=text_encoder_2,
        tokenizer_2=tiny_tokenizer(512),
        transformer=transformer,
    )


def tiny_zimage() -> ZImagePipeline:
    torch.manual_seed(0)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=16,
        dim=32,
        n_layers=2,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        norm_eps=1e-5,
        qk_norm=True,
        cap_feat_dim=16,
        rope_theta=256.0,
        t_scale=1000.0,
        axes_dims=[8, 4, 4],
        axes_lens=[256, 32, 32],
    )
    with torch.no_grad():  # both are torch.empty: NaNs otherwise
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token))
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        block_out_channels=[32, 64],
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=32,
        sample_size=32,
        scaling_factor=0.3611,
        shift_factor=0.1159,
    )
    text_encoder = Qwen3Model(
        Qwen3Config(
            hidden_size=16,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            vocab_size=64,
            max_position_embeddings=512,
        )
    )
    return ZImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tiny_tokenizer(512, chat_template=QWEN_TMPL),
        transformer=transformer,
    )


def tiny_sd() -> StableDiffusionPipeline:
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=8,
        norm_num_groups=2,
    )
    vae = AutoencoderKL(
        block_out_channels=[4, 8],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=2,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="trailing",
        prediction_type="epsilon",
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=tiny_clip(8, 16, 2),
        tokenizer=tiny_tokenizer(77),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


BUILDERS = {"flux": tiny_flux, "zimage": tiny_zimage, "sd": tiny_sd}


def save_tiny_models(models_dir: Path, which: tuple[str, ...] = ("flux", "zimage", "sd")) -> Path:
    """Build and save the tiny pipelines into ``models_dir/<repo name>/`` with small sizes."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for key in which:
        folder = models_dir / FOLDERS[key]
        BUILDERS[key]().save_pretrained(folder)
        # atelier.json: the folder's own size table (a real fine-tune may carry one too)
        (folder / "atelier.json").write_text(json.dumps({"sizes": TINY_SIZES[key]}))
    return models_dir
