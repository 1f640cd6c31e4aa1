"""Content types and file extensions of MMS attachments, and which types must never be shown inline.

The table covers every format of the product sheet (issue 4), with the types Debian's and Apache's
mime.types give them, plus AMR and the usual aliases phones send (image/jpg, audio/mp3,
text/vcard …). An unknown type is ``application/octet-stream`` with extension ``bin``: kept, never
dropped.

``is_active_content`` answers True for anything a browser could run script in (HTML, XHTML, SVG,
XML, SMIL, JavaScript, PDF, Flash …) and for anything not known to be passive: such a part is only
ever served as a download with ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

__all__ = [
    "OCTET_STREAM",
    "content_type_for",
    "extension_for",
    "is_active_content",
    "normalise",
]

OCTET_STREAM = "application/octet-stream"

# content type → extensions, the first one canonical.
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    # applications
    "application/vnd.ms-excel": ("xls", "xlm", "xla", "xlc", "xlt", "xlw"),
    "application/msword": ("doc", "dot"),
    "application/vnd.ms-powerpoint": ("ppt", "pps", "pot"),
    "application/rtf": ("rtf",),
    "application/x-gtar-compressed": ("tgz",),
    "application/x-tar": ("tar",),
    "application/zip": ("zip",),
    "application/gzip": ("gz",),
    "application/pdf": ("pdf",),
    "application/smil": ("smil", "smi"),
    "application/ogg": ("ogg",),
    "application/vnd.ms-cab-compressed": ("cab",),
    "application/vnd.oasis.opendocument.formula": ("odf",),
    "application/vnd.oasis.opendocument.chart-template": ("otc",),
    "application/vnd.oasis.opendocument.chart": ("odc",),
    "application/vnd.oasis.opendocument.text": ("odt",),
    "application/vnd.oasis.opendocument.spreadsheet": ("ods",),
    "application/vnd.oasis.opendocument.presentation": ("odp",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
    # audio
    "audio/midi": ("mid", "midi", "kar", "rmi"),
    "audio/mpeg": ("mp3", "mpga", "mp2", "mp2a", "m2a", "m3a"),
    "audio/x-mpegurl": ("m3u",),
    "audio/x-wav": ("wav",),
    "audio/x-ms-wma": ("wma",),
    "audio/x-aiff": ("aif", "aiff", "aifc"),
    "audio/x-pn-realaudio": ("ra", "ram"),
    "audio/amr": ("amr",),
    "audio/amr-wb": ("awb",),
    "audio/mp4": ("m4a",),
    "audio/aac": ("aac",),
    "audio/opus": ("opus",),
    # images
    "image/gif": ("gif",),
    "image/jpeg": ("jpg", "jpeg", "jpe"),
    "image/png": ("png",),
    "image/svg+xml": ("svg", "svgz"),
    "image/vnd.djvu": ("djvu", "djv"),
    "image/vnd.wap.wbmp": ("wbmp",),
    "image/x-icon": ("ico",),
    "image/bmp": ("bmp",),
    "image/webp": ("webp",),
    "image/tiff": ("tif", "tiff"),
    "image/heic": ("heic",),
    "image/heif": ("heif",),
    # text
    "text/plain": ("txt", "text", "conf", "def", "list", "log"),
    "text/richtext": ("rtx",),
    "text/csv": ("csv",),
    "text/x-java-source": ("java",),
    "text/x-vcard": ("vcf",),
    "text/x-vcalendar": ("vcs",),
    "text/html": ("html", "htm"),
    "application/xhtml+xml": ("xhtml",),
    "application/xml": ("xml",),
    "application/javascript": ("js",),
    # video
    "video/3gpp": ("3gp",),
    "video/3gpp2": ("3g2",),
    "video/quicktime": ("mov", "qt"),
    "video/x-ms-asf": ("asf", "asx"),
    "video/x-msvideo": ("avi",),
    "video/x-sgi-movie": ("movie",),
    "video/mp4": ("mp4", "mp4v", "mpg4"),
    "video/mpeg": ("mpg", "mpeg", "mpe", "m1v", "m2v"),
    "video/webm": ("webm",),
}

# Other names phones and MMSCs use for the types above.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/vnd.microsoft.icon": "image/x-icon",
    "image/x-ms-bmp": "image/bmp",
    "audio/mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mid": "audio/midi",
    "audio/x-midi": "audio/midi",
    "audio/sp-midi": "audio/midi",
    "audio/wav": "audio/x-wav",
    "audio/wave": "audio/x-wav",
    "audio/vnd.wave": "audio/x-wav",
    "audio/aiff": "audio/x-aiff",
    "audio/x-realaudio": "audio/x-pn-realaudio",
    "audio/mpegurl": "audio/x-mpegurl",
    "audio/ogg": "application/ogg",
    "video/ogg": "application/ogg",
    "audio/3gpp": "video/3gpp",
    "audio/3gpp2": "video/3gpp2",
    "text/vcard": "text/x-vcard",
    "text/directory": "text/x-vcard",
    "text/calendar": "text/x-vcalendar",
    "application/smil+xml": "application/smil",
    "text/rtf": "application/rtf",
    "application/x-gzip": "application/gzip",
    "application/x-compressed-tar": "application/x-gtar-compressed",
    "application/x-zip-compressed": "application/zip",
    "application/x-pdf": "application/pdf",
    "text/xml": "application/xml",
    "text/javascript": "application/javascript",
    "application/x-javascript": "application/javascript",
    "application/vnd.wap.xhtml+xml": "application/xhtml+xml",
    "video/x-mpeg": "video/mpeg",
    "audio/x-amr": "audio/amr",
}

_TYPE_OF_EXTENSION = {ext: media for media, exts in _EXTENSIONS.items() for ext in exts}

# Formats a browser renders without running anything the sender wrote.
_PASSIVE = {
    "image/gif", "image/jpeg", "image/png", "image/vnd.wap.wbmp", "image/x-icon", "image/bmp",
    "image/webp", "image/tiff", "image/vnd.djvu", "image/heic", "image/heif", "application/ogg",
    "text/plain", "text/csv", "text/x-vcard", "text/x-vcalendar", "text/richtext",
}  # fmt: skip
_ACTIVE_MARKERS = ("html", "xml", "svg", "script", "smil", "shockwave", "java", "x-sh", "wml", "pdf")


def normalise(content_type: str | None) -> str:
    """Lower case, parameters dropped, aliases mapped: ``"IMAGE/JPG; name=a"`` → ``"image/jpeg"``.
    Empty or malformed → application/octet-stream."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.count("/") != 1 or " " in media:
        return OCTET_STREAM
    return _ALIASES.get(media, media)


def _extension_of(name: str | None) -> str | None:
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base:
        return None
    return base.rsplit(".", 1)[1].lower() or None


def content_type_for(name: str | None) -> str:
    """The content type a file name's extension stands for; application/octet-stream otherwise."""
    extension = _extension_of(name)
    return _TYPE_OF_EXTENSION.get(extension, OCTET_STREAM) if extension else OCTET_STREAM


def extension_for(content_type: str | None, name: str | None = None) -> str:
    """The extension (no dot) to store a part under: the name's own when it stands for the same
    type, else the type's canonical one; for an unknown type the name's extension when it is a
    known one, else ``bin``."""
    media = normalise(content_type)
    extension = _extension_of(name)
    if media in _EXTENSIONS:
        if extension in _EXTENSIONS[media]:
            return extension
        return _EXTENSIONS[media][0]
    if media == OCTET_STREAM and extension in _TYPE_OF_EXTENSION:
        return extension
    return "bin"


def is_active_content(content_type: str | None) -> bool:
    """True unless the type is known to be passive (images other than SVG, audio, video, plain
    text): such content must never be served inline."""
    media = normalise(content_type)
    if any(marker in media for marker in _ACTIVE_MARKERS):
        return True
    if media in _PASSIVE:
        return False
    kind = media.split("/", 1)[0]
    return kind not in ("audio", "video")
