"""Just enough of an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1) to read
``max_num_ref_frames``: how many pictures a P-picture may predict from, which decides whether
CoViAR's accumulation (:mod:`vidkit.io.compressed`) follows the codec's own chain.

:func:`max_num_ref_frames` reads the codec's extradata as any demuxer hands it over (PyAV's
``stream.codec_context.extradata``): an ``avcC`` record from MP4/MKV, or an Annex B stream.
:func:`vidkit.io.compressed.reference_frames` does the same from a file's path."""

from __future__ import annotations

__all__ = ["max_num_ref_frames"]

# profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling matrices
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


class _Bits:
    """An exp-Golomb bit reader over an RBSP (emulation-prevention bytes already removed)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def bit(self) -> int:
        if self.pos >= 8 * len(self.data):
            raise ValueError("SPS ended early")
        byte = self.data[self.pos >> 3]
        self.pos += 1
        return (byte >> (7 - ((self.pos - 1) & 7))) & 1

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = value << 1 | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def _rbsp(nal: bytes) -> bytes:
    """Drop the emulation-prevention byte of every ``00 00 03``."""
    out, zeros = bytearray(), 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _sps_nals(extradata: bytes) -> list[bytes]:
    """The SPS NAL units (header byte included) of an ``avcC`` record (MP4, MKV) or an Annex B stream."""
    if extradata[:1] == b"\x01" and len(extradata) > 8:  # avcC: version 1
        count, pos, nals = extradata[5] & 0x1F, 6, []
        for _ in range(count):
            size = int.from_bytes(extradata[pos : pos + 2], "big")
            nals.append(extradata[pos + 2 : pos + 2 + size])
            pos += 2 + size
        return nals
    parts = extradata.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return [p for p in parts if p and p[0] & 0x1F == 7]


def max_num_ref_frames(extradata: bytes) -> int | None:
    """``max_num_ref_frames`` of the first SPS in ``extradata``, or None when there is none to read."""
    for nal in _sps_nals(extradata):
        try:
            return _parse(_Bits(_rbsp(nal[1:])))
        except (ValueError, IndexError):
            continue
    return None


def _parse(r: _Bits) -> int:
    profile_idc = r.bits(8)
    r.bits(16)  # constraint flags, level_idc
    r.ue()  # seq_parameter_set_id
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            r.bit()  # separate_colour_plane_flag
        r.ue(), r.ue()  # bit depths
        r.bit()  # qpprime_y_zero_transform_bypass_flag
        if r.bit():  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.bit():
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.bit()
        r.se(), r.se()
        for _ in range(r.ue()):
            r.se()
    return r.ue()


def _skip_scaling_list(r: _Bits, size: int) -> None:
    last, following = 8, 8
    for _ in range(size):
        if following:
            following = (last + r.se() + 256) % 256
        last = following or last
