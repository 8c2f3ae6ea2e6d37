"""What a WeCom group send carries (externalcontact/add_msg_template, document 92135): a text
and/or attachments, each an image, a link card or a mini-program page, at most 9. In
destinations.yml:

    attachments:
      - image: {media_id: MEDIA_ID}                     # or pic_url on WeCom's servers
      - link: {title: 新品上市, url: https://..., picurl: https://..., desc: 首发}
      - miniprogram: {title: 领券, appid: wx..., page: /pages/coupon/index, pic_media_id: MEDIA_ID}

sent as {"msgtype": <kind>, <kind>: {...}} (tests/test_channel_clients.py compares the body with
wechatpy's).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints, model_validator

from activation.config import Strict, Text

MAX_ATTACHMENTS = 9
ATTACHMENT_KINDS = ("image", "link", "miniprogram")
HttpUrlText = Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]


class ImageAttachment(Strict):
    # Uploaded with WeCom's media/upload (a temporary media id) or a pic_url on WeCom's servers.
    media_id: str | None = None
    pic_url: HttpUrlText | None = None


class LinkAttachment(Strict):
    title: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    url: HttpUrlText
    picurl: HttpUrlText | None = None
    desc: Annotated[str, StringConstraints(max_length=512)] | None = None


class MiniprogramAttachment(Strict):
    title: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    # The mini program's appid (linked to the corp), the page to open and the cover's media id.
    appid: Text
    page: Text
    pic_media_id: Text


class Attachment(Strict):
    """One of image, link or miniprogram; sent as {"msgtype": <kind>, <kind>: {...}}."""

    image: ImageAttachment | None = None
    link: LinkAttachment | None = None
    miniprogram: MiniprogramAttachment | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Attachment:
        kinds = [kind for kind in ATTACHMENT_KINDS if getattr(self, kind) is not None]
        if len(kinds) != 1:
            raise ValueError(f"an attachment is exactly one of {', '.join(ATTACHMENT_KINDS)}")
        if self.image is not None and not (self.image.media_id or self.image.pic_url):
            raise ValueError("an image needs media_id or pic_url")
        return self

    def as_sent(self) -> dict:
        [kind] = [kind for kind in ATTACHMENT_KINDS if getattr(self, kind) is not None]
        return {"msgtype": kind, kind: getattr(self, kind).model_dump(exclude_none=True)}


def group_message(options, external_userids: list[str]) -> dict:
    """The add_msg_template body: to whom, from whom, and the text and attachments."""
    message: dict = {"chat_type": "single", "external_userid": external_userids, "sender": options.sender}
    if options.message_text:
        message["text"] = {"content": options.message_text}
    if options.attachments:
        message["attachments"] = [attachment.as_sent() for attachment in options.attachments]
    return message
