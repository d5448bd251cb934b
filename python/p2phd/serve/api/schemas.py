# SPDX-License-Identifier: Apache-2.0
"""Request and response bodies of the API (what /docs shows)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from p2phd.serve.session import Session

# Every number of an edit is bounded: NaN, infinities and numbers no map could use are a 422
# here, before any work. Stroke points may lie off the map, but not absurdly far.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Coordinate = Annotated[float, Field(allow_inf_nan=False, ge=-65536, le=65536)]
MAX_RADIUS = 512


class SessionInfo(BaseModel):
    id: str = Field(description="unguessable; keep it private")
    height: int
    width: int
    version: int = Field(description="increases with every change of the maps or styles")
    undo: int = Field(description="steps that can be undone")
    redo: int = Field(description="steps that can be redone")
    seed: int

    @classmethod
    def of(cls, session: Session) -> SessionInfo:
        height, width = session.shape
        return cls(
            id=session.id,
            height=height,
            width=width,
            version=session.version,
            undo=len(session.undo_stack),
            redo=len(session.redo_stack),
            seed=session.seed,
        )


class NewScene(BaseModel):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    height: Int32 | None = Field(None, description="default: the server's scene size")
    width: Int32 | None = None


class Stroke(BaseModel):
    """Paint `label` along the polyline through `points` ([x, y] pixels)."""

    op: Literal["stroke"]
    points: list[tuple[Coordinate, Coordinate]] = Field(min_length=1)
    radius: float = Field(gt=0, le=MAX_RADIUS, allow_inf_nan=False)
    label: Int32
    instance: Int32 | None = Field(
        None, description="join this instance; default: a new one (thing classes) or the class"
    )


class Fill(BaseModel):
    """Flood-fill the 4-connected region of equal label at (x, y) with `label`."""

    op: Literal["fill"]
    x: Int32
    y: Int32
    label: Int32


class SetClass(BaseModel):
    op: Literal["set_class"]
    instance: Int32
    label: Int32


class Delete(BaseModel):
    """Remove an object: its pixels take the most common class around it."""

    op: Literal["delete"]
    instance: Int32


class Move(BaseModel):
    """Move (or with `duplicate` copy) an object by (dx, dy); it gets a new instance id."""

    op: Literal["move"]
    instance: Int32
    dx: Int32
    dy: Int32
    duplicate: bool = False


class SetStyle(BaseModel):
    """Give an object the appearance of cluster `cluster` of its class (feature models)."""

    op: Literal["style"]
    instance: Int32
    cluster: Int32


Edit = Annotated[Stroke | Fill | SetClass | Delete | Move | SetStyle, Field(discriminator="op")]


class ObjectInfo(BaseModel):
    instance: int
    label: int
    name: str
    thing: bool = Field(description="a class with separate instances (can be moved)")
    box: tuple[int, int, int, int] = Field(description="top, bottom, left, right (exclusive)")
    area: int
    styles: int = Field(description="clusters to choose from (0: none)")
    style: int | None = Field(description="the chosen cluster; None for none or a photo's")
    photo_style: bool = Field(description="the style is the features of an uploaded photo")


class ClassInfo(BaseModel):
    id: int
    name: str
    color: tuple[int, int, int]
    thing: bool
    styles: int


class ModelInfo(BaseModel):
    description: str
    precision: str = Field(description="what the generator computes in: fp32, fp16 or bf16")
    label_nc: int
    use_instance: bool
    feature_model: bool
    photo_styles: bool = Field(description="an encoder: a photo can give an object its style")
    classes: list[ClassInfo]
    scene_size: tuple[int, int]
    max_side: int
    max_upload_bytes: int
    max_batch: int
    max_wait_ms: float
    max_queue: int = Field(description="renders waiting or under way; beyond, 503")
    render_timeout_s: float = Field(description="a render not done in this time: 504")
