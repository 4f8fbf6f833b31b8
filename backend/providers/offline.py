"""The offline procedural renderer: no model, no network, so the studio works anywhere.

It paints a landscape from a handful of prompt words (colours, night/sunset/day, sea or
lake, mountains, forest, city, stars) in eight real steps, then applies the style as a
look (grain, neon, cel shading, brushstrokes...). The same prompt, seed, style and size
always give the same pixels: every random choice comes from one seeded generator.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from backend.providers.base import (
    GeneratedImage,
    GenerationContext,
    GenerationRequest,
    ModelInfo,
    PixelImage,
    Provider,
    StepRange,
    settings,
)

RGB = tuple[int, int, int]
#: the method's name, written as the ``Sampler`` of its images' A1111 parameters (it uses no
#: guidance: no CFG scale is written)
SAMPLER = "Atelier procedural renderer"

# Sizes near one megapixel, multiples of 32, like the diffusion models it stands in for.
SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1152),
    "4:3": (1152, 864),
    "4:5": (896, 1120),
    "5:4": (1120, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1568, 672),
}
DRAFT_SIZES = {ratio: (w // 2, h // 2) for ratio, (w, h) in SIZES.items()}

COLOUR_WORDS: dict[str, RGB] = {
    "red": (200, 40, 40),
    "crimson": (170, 20, 50),
    "orange": (235, 130, 40),
    "yellow": (240, 210, 60),
    "gold": (230, 180, 60),
    "golden": (230, 180, 60),
    "green": (50, 160, 70),
    "emerald": (30, 150, 100),
    "blue": (50, 90, 210),
    "teal": (30, 150, 150),
    "cyan": (40, 200, 220),
    "turquoise": (60, 200, 190),
    "purple": (130, 60, 190),
    "violet": (140, 80, 210),
    "pink": (235, 110, 170),
    "magenta": (210, 40, 170),
    "white": (235, 235, 240),
    "silver": (190, 195, 205),
    "grey": (128, 128, 135),
    "gray": (128, 128, 135),
    "black": (20, 20, 25),
    "brown": (120, 80, 50),
}
WORDS = {
    "night": {"night", "midnight", "moon", "moonlit", "moonlight", "nocturnal", "dark"},
    "sunset": {"sunset", "sunrise", "dusk", "dawn", "twilight", "evening"},
    "water": {"sea", "ocean", "lake", "river", "beach", "bay", "coast", "water", "pond"},
    "mountains": {"mountain", "mountains", "peak", "peaks", "hills", "alps", "volcano"},
    "forest": {"forest", "forests", "tree", "trees", "woods", "jungle", "pine", "pines"},
    "city": {"city", "skyline", "town", "street", "buildings", "metropolis", "downtown"},
    "stars": {"stars", "starry", "galaxy", "cosmos", "milky", "constellation", "space"},
}
TOTAL_STEPS = 8


@dataclass(frozen=True)
class Scene:
    time: str  # "day" | "sunset" | "night"
    water: bool
    mountains: bool
    forest: bool
    city: bool
    stars: bool
    accent: RGB | None  # the first colour word, if any


def read_scene(prompt: str) -> Scene:
    words = re.findall(r"[a-z]+", prompt.lower())
    present = set(words)

    def has(key: str) -> bool:
        return bool(present & WORDS[key])

    time = "night" if has("night") else "sunset" if has("sunset") else "day"
    stars = has("stars")
    if stars and time == "day":
        time = "night"
    city = has("city")
    water = has("water")
    forest = has("forest")
    mountains = has("mountains") or not (city or forest or water)
    accent = next((COLOUR_WORDS[w] for w in words if w in COLOUR_WORDS), None)
    return Scene(time, water, mountains, forest, city, stars or time == "night", accent)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=False))  # type: ignore[return-value]


def _palette(scene: Scene, rng: random.Random) -> dict[str, RGB]:
    if scene.time == "night":
        p = {
            "sky_top": (8, 10, 32),
            "sky_low": (30, 40, 90),
            "sun": (235, 235, 220),
            "far": (40, 50, 90),
            "near": (15, 20, 40),
            "ground": (10, 16, 24),
        }
    elif scene.time == "sunset":
        p = {
            "sky_top": (60, 50, 120),
            "sky_low": (250, 140, 70),
            "sun": (255, 200, 120),
            "far": (120, 70, 110),
            "near": (60, 35, 60),
            "ground": (40, 28, 40),
        }
    else:
        p = {
            "sky_top": (70, 130, 215),
            "sky_low": (190, 220, 240),
            "sun": (255, 250, 220),
            "far": (110, 140, 170),
            "near": (60, 110, 70),
            "ground": (70, 100, 60),
        }
    hue_shift = rng.uniform(-0.08, 0.08)
    for key, colour in p.items():
        tint = (255, 180, 160) if hue_shift > 0 else (160, 190, 255)
        p[key] = _mix(colour, tint, abs(hue_shift))
    if scene.accent:
        p["sky_low"] = _mix(p["sky_low"], scene.accent, 0.55)
        p["far"] = _mix(p["far"], scene.accent, 0.35)
        p["near"] = _mix(p["near"], scene.accent, 0.25)
    return p


def _ridge(rng: random.Random, width: int, base: float, roughness: float, points: int) -> list[float]:
    """A mountain ridge by midpoint displacement: heights in pixels from the top."""
    heights = [base + rng.uniform(-roughness, roughness) for _ in range(2)]
    spread = roughness
    while len(heights) < points:
        spread *= 0.6
        out = []
        for a, b in zip(heights, heights[1:], strict=False):
            out += [a, (a + b) / 2 + rng.uniform(-spread, spread)]
        heights = out + [heights[-1]]
    return heights


def _ridge_polygon(heights: list[float], width: int, bottom: int) -> list[tuple[float, float]]:
    step = width / (len(heights) - 1)
    return [(0, bottom)] + [(i * step, h) for i, h in enumerate(heights)] + [(width, bottom)]


def _noise(rng: random.Random, size: tuple[int, int], tile: int = 256) -> Image.Image:
    """Deterministic grey noise (Pillow's effect_noise cannot be seeded)."""
    small = Image.frombytes("L", (tile, tile), rng.randbytes(tile * tile))
    return small.resize(size, Image.Resampling.BILINEAR) if size != (tile, tile) else small


class Renderer:
    """Paints one image step by step; each step() leaves a finished-looking canvas."""

    def __init__(self, prompt: str, seed: int, style: str, width: int, height: int) -> None:
        key = f"{prompt}\x00{seed}\x00{style}\x00{width}x{height}"
        self.rng = random.Random(hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest())
        self.scene = read_scene(prompt)
        self.style = style
        self.w, self.h = width, height
        self.horizon = round(height * self.rng.uniform(0.55, 0.68))
        self.p = _palette(self.scene, self.rng)
        self.img = Image.new("RGB", (width, height), self.p["ground"])
        self.steps = [
            self._sky,
            self._celestial,
            self._far_layer,
            self._near_layer,
            self._water_or_ground,
            self._details,
            self._style_pass,
            self._finish,
        ]

    def run_step(self, i: int) -> Image.Image:
        self.steps[i]()
        return self.img

    # 1
    def _sky(self) -> None:
        grad = Image.linear_gradient("L").resize((self.w, self.horizon))
        sky = ImageOps.colorize(grad, self.p["sky_top"], self.p["sky_low"])
        self.img.paste(sky, (0, 0))

    # 2
    def _celestial(self) -> None:
        rng, w, h = self.rng, self.w, self.h
        if self.scene.stars:
            draw = ImageDraw.Draw(self.img)
            for _ in range(int(w * self.horizon / 2500)):
                x, y = rng.randrange(w), rng.randrange(int(self.horizon * 0.9))
                v = rng.randrange(150, 256)
                r = rng.choice((0, 0, 0, 1))
                draw.ellipse((x - r, y - r, x + r, y + r), fill=(v, v, min(255, v + 20)))
        radius = min(w, h) * (0.06 if self.scene.time == "night" else 0.08)
        cx = rng.uniform(0.2, 0.8) * w
        cy = self.horizon * (0.3 if self.scene.time != "sunset" else 0.5)
        glow = Image.new("L", (w // 4, h // 4), 0)
        gd = ImageDraw.Draw(glow)
        gd.ellipse(
            ((cx - radius * 2.5) / 4, (cy - radius * 2.5) / 4, (cx + radius * 2.5) / 4, (cy + radius * 2.5) / 4),
            fill=90,
        )
        glow = glow.filter(ImageFilter.GaussianBlur(radius / 3)).resize((w, h))
        self.img = Image.composite(Image.new("RGB", (w, h), self.p["sun"]), self.img, glow)
        ImageDraw.Draw(self.img).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=self.p["sun"])
        self.sun = (cx, cy, radius)

    # 3
    def _far_layer(self) -> None:
        if not self.scene.mountains:
            return
        rng = self.rng
        for depth, (shade, base) in enumerate(((0.35, 0.62), (0.15, 0.85))):
            ridge = _ridge(rng, self.w, self.horizon * base, self.h * (0.22 - depth * 0.08), 129)
            colour = _mix(self.p["far"], self.p["sky_low"], shade)
            ImageDraw.Draw(self.img).polygon(_ridge_polygon(ridge, self.w, self.horizon + 1), fill=colour)
            if depth == 0 and self.scene.time != "night":  # snow caps on the far range
                snowline = min(ridge) + (max(ridge) - min(ridge)) * 0.3
                caps = [max(v + self.h * 0.02, snowline) for v in ridge]
                mask = Image.new("L", self.img.size, 0)
                md = ImageDraw.Draw(mask)
                md.polygon(_ridge_polygon(ridge, self.w, self.horizon), fill=110)
                md.polygon(_ridge_polygon(caps, self.w, self.horizon + 1), fill=0)
                self.img.paste((240, 240, 250), mask=mask)

    # 4
    def _near_layer(self) -> None:
        rng, draw = self.rng, ImageDraw.Draw(self.img)
        if self.scene.city:
            x = 0.0
            self.windows: list[tuple[float, float, float, float]] = []
            while x < self.w:
                bw = rng.uniform(0.03, 0.08) * self.w
                bh = rng.uniform(0.08, 0.38) * self.h
                top = self.horizon - bh
                draw.rectangle((x, top, x + bw, self.horizon), fill=self.p["near"])
                self.windows.append((x, top, bw, bh))
                x += bw + rng.uniform(0, 0.01) * self.w
        else:
            ridge = _ridge(rng, self.w, self.horizon - self.h * 0.03, self.h * 0.03, 65)
            draw.polygon(_ridge_polygon(ridge, self.w, self.horizon + 1), fill=self.p["near"])

    # 5
    def _water_or_ground(self) -> None:
        w, h, hz = self.w, self.h, self.horizon
        if self.scene.water:
            above = self.img.crop((0, max(0, 2 * hz - h), w, hz)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
            above = above.resize((w // 4, max(1, (h - hz) // 4))).filter(ImageFilter.GaussianBlur(2))
            water = above.resize((w, h - hz))
            water = Image.blend(water, Image.new("RGB", water.size, _mix(self.p["sky_top"], (10, 40, 70), 0.5)), 0.35)
            ripples = ImageDraw.Draw(water)
            for _ in range(int(h / 6)):
                y = self.rng.uniform(0, h - hz)
                x = self.rng.uniform(-0.1, 1) * w
                length = self.rng.uniform(0.02, 0.15) * w * (0.3 + y / (h - hz))
                ripples.line((x, y, x + length, y), fill=_mix(self.p["sky_low"], (255, 255, 255), 0.3), width=1)
            self.img.paste(water, (0, hz))
        else:
            grad = Image.linear_gradient("L").resize((w, h - hz))
            ground = ImageOps.colorize(grad, self.p["near"], self.p["ground"])
            self.img.paste(ground, (0, hz))

    # 6
    def _details(self) -> None:
        rng, draw = self.rng, ImageDraw.Draw(self.img)
        if self.scene.city:
            lit = (255, 220, 140) if self.scene.time != "day" else _mix(self.p["near"], (200, 220, 240), 0.4)
            for x, top, bw, _bh in self.windows:
                for wy in range(int(top + 6), int(self.horizon - 6), 12):
                    for wx in range(int(x + 4), int(x + bw - 6), 10):
                        if rng.random() < 0.45:
                            draw.rectangle((wx, wy, wx + 4, wy + 5), fill=lit)
        if self.scene.forest:
            tree = _mix(self.p["near"], (10, 40, 20), 0.6)
            count = int(self.w / 14)
            for _ in range(count):
                x = rng.uniform(0, self.w)
                base = self.horizon + rng.uniform(0, 0.12) * self.h
                th = rng.uniform(0.05, 0.16) * self.h * (0.6 + (base - self.horizon) / (0.12 * self.h))
                tw = th * rng.uniform(0.25, 0.4)
                draw.polygon([(x, base - th), (x - tw / 2, base), (x + tw / 2, base)], fill=tree)

    # 7
    def _style_pass(self) -> None:
        look = STYLE_LOOKS.get(self.style)
        if look:
            self.img = look(self, self.img)

    # 8
    def _finish(self) -> None:
        w, h = self.img.size
        vignette = Image.radial_gradient("L").resize((w, h)).point(lambda v: max(0, v - 120) * 0.6)
        self.img = Image.composite(Image.new("RGB", (w, h), (0, 0, 0)), self.img, vignette.convert("L"))
        if self.style in ("photorealistic", "cyberpunk", "fantasy"):
            grain = _noise(self.rng, (w, h)).point(lambda v: 128 + (v - 128) // 10)
            self.img = ImageChops.overlay(self.img, Image.merge("RGB", (grain, grain, grain)))


# --- style looks: each clearly different, all cheap at one megapixel -------------------
def _photorealistic(r: Renderer, img: Image.Image) -> Image.Image:
    soft = img.filter(ImageFilter.GaussianBlur(1.2))
    return ImageEnhance.Contrast(ImageEnhance.Color(soft).enhance(0.9)).enhance(1.15)


def _cyberpunk(r: Renderer, img: Image.Image) -> Image.Image:
    grey = ImageOps.autocontrast(img.convert("L"))
    neon = ImageOps.colorize(grey, (20, 0, 40), (40, 240, 255), mid=(230, 30, 170))
    edges = img.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 40 else 0)
    glow = ImageOps.colorize(edges.filter(ImageFilter.GaussianBlur(3)), (0, 0, 0), (255, 60, 220))
    out = ImageChops.screen(neon, glow)
    lines = Image.new("L", out.size, 0)
    d = ImageDraw.Draw(lines)
    for y in range(0, out.height, 4):
        d.line((0, y, out.width, y), fill=70)
    return Image.composite(Image.new("RGB", out.size, (0, 0, 0)), out, lines)


def _fantasy(r: Renderer, img: Image.Image) -> Image.Image:
    warm = ImageOps.colorize(img.convert("L"), (40, 10, 60), (255, 240, 200), mid=(200, 120, 150))
    base = Image.blend(img, warm, 0.45)
    bloom = base.resize((base.width // 4, base.height // 4)).filter(ImageFilter.GaussianBlur(6))
    out = ImageChops.screen(base, ImageEnhance.Brightness(bloom.resize(base.size)).enhance(0.5))
    d = ImageDraw.Draw(out)
    for _ in range(int(out.width * out.height / 6000)):
        x, y = r.rng.uniform(0, out.width), r.rng.uniform(0, out.height)
        s = r.rng.choice((1, 1, 2, 3))
        d.ellipse((x - s, y - s, x + s, y + s), fill=(255, 240, 180))
    return ImageEnhance.Color(out).enhance(1.3)


def _anime(r: Renderer, img: Image.Image) -> Image.Image:
    flat = ImageOps.posterize(ImageEnhance.Color(img).enhance(1.6), 3)
    edges = img.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 24 else 0)
    return Image.composite(Image.new("RGB", img.size, (25, 20, 35)), flat, edges.filter(ImageFilter.MaxFilter(3)))


def _oil_painting(r: Renderer, img: Image.Image) -> Image.Image:
    small = img.resize((img.width // 4, img.height // 4), Image.Resampling.BILINEAR)
    base = small.filter(ImageFilter.ModeFilter(3)).resize(img.size, Image.Resampling.BICUBIC)
    d = ImageDraw.Draw(base)
    for _ in range(int(img.width * img.height / 350)):
        x, y = r.rng.randrange(img.width), r.rng.randrange(img.height)
        colour = img.getpixel((x, y))
        length = r.rng.uniform(6, 16)
        dx = r.rng.uniform(-1, 1) * length
        d.line((x, y, x + dx, y + length * 0.4), fill=colour, width=r.rng.choice((3, 4, 5)))
    canvas = _noise(r.rng, img.size, tile=128).filter(ImageFilter.EMBOSS)
    canvas = canvas.point(lambda v: 128 + (v - 128) // 3)
    return ImageEnhance.Color(ImageChops.overlay(base, Image.merge("RGB", (canvas,) * 3))).enhance(1.2)


def _watercolor(r: Renderer, img: Image.Image) -> Image.Image:
    small = img.resize((img.width // 6, img.height // 6), Image.Resampling.BILINEAR)
    washed = small.filter(ImageFilter.MedianFilter(3)).resize(img.size, Image.Resampling.BICUBIC)
    washed = Image.blend(washed, Image.new("RGB", img.size, (250, 246, 235)), 0.3)
    edges = washed.convert("L").filter(ImageFilter.FIND_EDGES).filter(ImageFilter.GaussianBlur(1))
    washed = ImageChops.subtract(washed, Image.merge("RGB", (edges,) * 3))
    paper = _noise(r.rng, img.size, tile=128).point(lambda v: 235 + v // 12)
    return ImageChops.multiply(washed, Image.merge("RGB", (paper,) * 3))


STYLE_LOOKS = {
    "photorealistic": _photorealistic,
    "cyberpunk": _cyberpunk,
    "fantasy": _fantasy,
    "anime": _anime,
    "oil-painting": _oil_painting,
    "watercolor": _watercolor,
}


def render(prompt: str, seed: int, style: str, width: int, height: int) -> Image.Image:
    """The whole image at once (tests and benchmarks)."""
    renderer = Renderer(prompt, seed, style, width, height)
    for i in range(TOTAL_STEPS):
        renderer.run_step(i)
    return renderer.img


class OfflineProvider(Provider):
    id = "offline"
    label = "offline procedural renderer (no AI model)"
    cpu_bound = True
    default_concurrency = 2

    def models(self) -> list[ModelInfo]:
        common = dict(
            supports_seed=True,
            supports_negative_prompt=True,
            steps=StepRange(TOTAL_STEPS, TOTAL_STEPS, TOTAL_STEPS),
            step_progress=True,
            cancel=True,
            price_per_image=0.0,
        )
        return [
            ModelInfo(id="procedural-v1", label="Procedural landscapes", sizes=SIZES, **common),
            ModelInfo(id="procedural-draft", label="Procedural landscapes, half size", sizes=DRAFT_SIZES, **common),
        ]

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        for index in range(request.n):
            seed = request.seed_for(index) or 0
            renderer = Renderer(request.prompt, seed, request.style, request.width, request.height)
            for step in range(TOTAL_STEPS):
                ctx.raise_if_cancelled()
                image = renderer.run_step(step)
                ctx.step(index, step + 1, TOTAL_STEPS, f"painting image {index + 1} of {request.n}")
                ctx.preview(index, image)
            ctx.raise_if_cancelled()
            # the pixels: the studio encodes them while the next image is painted
            yield PixelImage(index, renderer.img, seed, settings(sampler=SAMPLER, steps=TOTAL_STEPS))
