#!/usr/bin/python3
"""Test RTSP server: serves video files as endless, real-time camera streams on 127.0.0.1.

Run with /usr/bin/python3 (Debian's python has `gi`; a pyenv build usually does not):

    /usr/bin/python3 rtsp_server.py '{"port": 0, "mounts": [{"path": "/cam1", "file": "a.mp4"}]}'

Spec (one JSON argument):
    port      TCP port to listen on, 0 for any free one.
    mounts[]  path    mount point, e.g. "/cam1"
              file    input video; for "h264" an H.264 file in any container parsebin reads
              codec   "h264" (default): the file's own H.264 access units, not re-encoded;
                      "mjpeg": decoded and JPEG-encoded once at start-up, RTP/JPEG on the wire
              user, password   optional: this mount then requires RTSP Basic auth
              shared  optional, default false: see LoopFactory

When listening it prints one line on stdout: `READY {"port": N}`. It stops on SIGTERM/SIGINT
and, as a backstop, when its parent dies (PR_SET_PDEATHSIG).

How the loop works (why no seek and no re-encode): at start-up each file is demuxed once and its
access units (H.264) or JPEG frames kept in memory. Each media pipeline is
`appsrc ! rtph264pay` (or `rtpjpegpay`); appsrc's need-data callback pushes the stored frames in
order, forever, adding one clip length to PTS/DTS on every pass, so timestamps keep increasing
across the loop boundary and the RTP timestamps with them. The server's sinks sync to the
pipeline clock, which paces output at real time. Costs: no decoding or encoding at run time
(~0.7% of one core per 720p 15 fps stream, measured), memory of the clip's compressed size.
Rejected: a segment-seek loop inside the RTSP media (the media owns the pipeline's bus, so
SEGMENT_DONE cannot be handled there without racing the server's own seeks), and a decode /
re-encode loop (~11% of one core per 720p stream on simple content, and it alters the pixels).

Only RTSP over TCP (interleaved) is offered, so nothing but the loopback TCP listener is ever
bound; a client that asks for UDP gets 461 and ffmpeg then retries over TCP by itself.
"""

import ctypes
import json
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer  # noqa: E402

GstApp  # imported for its appsink methods (try_pull_sample)

CLOCK_NONE = Gst.CLOCK_TIME_NONE
OPEN_MOUNT_CHECKS = (
    GstRtspServer.RTSP_AUTH_CHECK_URL,
    GstRtspServer.RTSP_AUTH_CHECK_MEDIA_FACTORY_ACCESS,
    GstRtspServer.RTSP_AUTH_CHECK_MEDIA_FACTORY_CONSTRUCT,
)
# Shallow copy: the new buffer shares the stored memory; only the header (timestamps) is new.
SHALLOW_COPY = Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.META | Gst.BufferCopyFlags.MEMORY
ALL_BYTES = 2**64 - 1


def fail(message):
    print(f"rtsp_server: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def die_with_parent():
    """Backstop for the harness's reaper: the kernel kills us when our parent exits."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except OSError as err:
        # Not fatal: the harness's reaper still kills our process group.
        print(f"rtsp_server: prctl(PR_SET_PDEATHSIG) unavailable: {err}", file=sys.stderr, flush=True)


class Clip:
    """One input file, held in memory as timestamped compressed frames."""

    def __init__(self, path, codec):
        self.path = path
        self.codec = codec
        self.caps = None
        self.frames = []  # (buffer, pts_ns or CLOCK_NONE, dts_ns, duration_ns), from 0
        self.length_ns = 0

    def load(self):
        location = Gst.filename_to_uri(self.path)
        if self.codec == "h264":
            # config-interval=-1 puts SPS/PPS before every IDR, so a client that joins a shared
            # stream mid-clip can start decoding at the next keyframe.
            desc = (
                f'urisourcebin uri="{location}" ! parsebin ! h264parse config-interval=-1 ! '
                "video/x-h264,stream-format=byte-stream,alignment=au ! "
                "appsink name=sink sync=false max-buffers=0"
            )
        else:
            # RTP/JPEG (RFC 2435) carries 4:2:0 or 4:2:2 only: force I420 before the encoder.
            desc = (
                f'uridecodebin uri="{location}" ! videoconvert ! video/x-raw,format=I420 ! '
                "jpegenc quality=85 ! appsink name=sink sync=false max-buffers=0"
            )
        pipeline = Gst.parse_launch(desc)
        sink = pipeline.get_by_name("sink")
        bus = pipeline.get_bus()
        pipeline.set_state(Gst.State.PLAYING)
        raw = []
        try:
            while True:
                sample = sink.try_pull_sample(Gst.SECOND)
                if sample is not None:
                    if self.caps is None:
                        self.caps = sample.get_caps()
                    raw.append(sample.get_buffer())
                    continue
                msg = bus.pop_filtered(Gst.MessageType.ERROR)
                if msg is not None:
                    err, debug = msg.parse_error()
                    fail(f"cannot read {self.path} as {self.codec}: {err.message} ({debug})")
                if sink.is_eos():
                    break
        finally:
            pipeline.set_state(Gst.State.NULL)
        if not raw:
            fail(f"no {self.codec} frames in {self.path}")
        self._index(raw)

    def _index(self, raw):
        # A frame's decode time is its DTS, or its PTS where the stream has no reordering.
        decode = [b.dts if b.dts != CLOCK_NONE else b.pts for b in raw]
        if CLOCK_NONE in decode:
            fail(f"{self.path}: frames without timestamps")
        # Shift so the earliest timestamp is 0 (with B-frames the first DTS precedes every PTS).
        t0 = min(decode + [b.pts for b in raw if b.pts != CLOCK_NONE])
        gaps = sorted(later - earlier for earlier, later in zip(decode, decode[1:]) if later > earlier)
        typical = gaps[len(gaps) // 2] if gaps else Gst.SECOND // 10
        for buf, dts in zip(raw, decode):
            duration = buf.duration if buf.duration != CLOCK_NONE else typical
            pts = buf.pts - t0 if buf.pts != CLOCK_NONE else CLOCK_NONE
            self.frames.append((buf, pts, dts - t0, duration))
        # The next pass starts one frame after the last decode time, keeping the cadence; PTS stay
        # ordered across the seam because every PTS lies within its pass plus the reorder delay.
        self.length_ns = decode[-1] - t0 + self.frames[-1][3]


class LoopFeeder:
    """Pushes one clip into one media's appsrc, forever, with ever-increasing timestamps."""

    def __init__(self, clip, appsrc):
        self.clip = clip
        self.appsrc = appsrc
        self.index = 0
        self.offset_ns = 0
        appsrc.connect("need-data", self.on_need_data)

    def on_need_data(self, appsrc, _length):
        buf, pts, dts, duration = self.clip.frames[self.index]
        out = buf.copy_region(SHALLOW_COPY, 0, ALL_BYTES)
        out.pts = pts + self.offset_ns if pts != CLOCK_NONE else CLOCK_NONE
        out.dts = dts + self.offset_ns
        out.duration = duration
        self.index += 1
        if self.index == len(self.clip.frames):
            self.index = 0
            self.offset_ns += self.clip.length_ns
        appsrc.emit("push-buffer", out)


class LoopFactory(GstRtspServer.RTSPMediaFactory):
    """One mount. Not shared (default): each client gets its own pipeline starting at the clip's
    first frame, a keyframe, so what a client sees is deterministic. Shared: every client sees one
    live-like stream and a late joiner starts mid-GOP, as with a real camera."""

    def __init__(self, clip, shared):
        super().__init__()
        self.clip = clip
        self.feeders = []
        if clip.codec == "h264":
            pay = "rtph264pay name=pay0 pt=96 config-interval=-1"
        else:
            pay = "rtpjpegpay name=pay0 pt=26"
        # Bounded queue: appsrc asks for data only as the clock-synced sinks drain it.
        self.set_launch(
            f"( appsrc name=src is-live=false format=time stream-type=stream max-buffers=8 block=false ! {pay} )"
        )
        self.set_shared(shared)
        self.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
        self.connect("media-configure", self.on_media_configure)

    def on_media_configure(self, _factory, media):
        appsrc = media.get_element().get_by_name("src")
        appsrc.set_property("caps", self.clip.caps)
        feeder = LoopFeeder(self.clip, appsrc)
        # Keep the feeder alive with its media, and drop it when the media is gone.
        self.feeders.append(feeder)
        media.connect("unprepared", lambda _m: self.feeders.remove(feeder) if feeder in self.feeders else None)


def parse_spec(argv):
    if len(argv) != 2:
        fail("usage: rtsp_server.py '<json spec>'")
    try:
        spec = json.loads(argv[1])
    except json.JSONDecodeError as err:
        fail(f"bad spec: {err}")
    mounts = spec.get("mounts")
    if not isinstance(mounts, list) or not mounts:
        fail("spec.mounts must be a non-empty list")
    for m in mounts:
        if not str(m.get("path", "")).startswith("/"):
            fail(f"mount path must start with '/': {m!r}")
        if m.get("codec", "h264") not in ("h264", "mjpeg"):
            fail(f"codec must be h264 or mjpeg: {m!r}")
        if ("user" in m) != ("password" in m):
            fail(f"user and password go together: {m.get('path')}")
    return int(spec.get("port", 0)), mounts


class MountAuth(GstRtspServer.RTSPAuth):
    """Basic auth on the mounts that have credentials; the other mounts stay open to anyone.

    GstRTSPAuth is server-wide: with a default token nobody is ever challenged (a protected
    mount answers 404), without one every mount is. So the checks for open mounts pass here,
    and everything else goes to the stock checks, which send 401 challenges.
    """

    def __init__(self, mounts):
        super().__init__()
        self.protected = [m["path"].rstrip("/") for m in mounts if "user" in m]
        for m in mounts:
            if "user" in m:
                token = GstRtspServer.RTSPToken()
                token.set_string("media.factory.role", role_of(m))
                self.add_basic(GstRtspServer.RTSPAuth.make_basic(m["user"], m["password"]), token)

    def is_protected(self, path):
        return any(path == p or path.startswith(p + "/") for p in self.protected)

    def do_check(self, ctx, check):
        uri = ctx.uri
        # SETUP names ".../stream=0", so a mount's sub-paths are the mount.
        if uri is not None and not self.is_protected(uri.abspath) and check in OPEN_MOUNT_CHECKS:
            return True
        return GstRtspServer.RTSPAuth.do_check(self, ctx, check)


def role_of(mount):
    return f"user-{mount['user']}"


def allow(factory, role):
    factory.add_role_from_structure(
        Gst.Structure.new_from_string(
            f'"{role}", media.factory.access=(boolean)true, media.factory.construct=(boolean)true'
        )
    )


def main(argv):
    die_with_parent()
    Gst.init(None)
    port, mounts = parse_spec(argv)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    auth = MountAuth(mounts) if any("user" in m for m in mounts) else None
    if auth is not None:
        server.set_auth(auth)

    clips = {}
    mount_points = server.get_mount_points()
    for m in mounts:
        codec = m.get("codec", "h264")
        key = (m["file"], codec)
        if key not in clips:
            clips[key] = Clip(m["file"], codec)
            clips[key].load()
        factory = LoopFactory(clips[key], bool(m.get("shared", False)))
        if "user" in m:
            allow(factory, role_of(m))
        mount_points.add_factory(m["path"], factory)

    if server.attach(None) == 0:
        fail(f"cannot listen on 127.0.0.1:{port}")

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, loop.quit)
    print("READY " + json.dumps({"port": server.get_bound_port()}), flush=True)
    loop.run()
    # Interpreter teardown of GStreamer objects takes over a second and nothing needs saving.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
