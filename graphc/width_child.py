"""The vector-width probe's child process, on the OpenCL library through ctypes.

``target.run_child`` runs this file as a script (it imports nothing of graphc), with the
path of the OpenCL library the parent's pyopencl loaded, the platform and device names,
the probe kernel's template and ``dtype:width`` pairs:

    python width_child.py LIBRARY PLATFORM DEVICE KERNEL float32:16 float64:8 ...

For each pair in turn it builds the kernel, runs it on 4 work-items and prints
``dtype:width:ok`` or ``dtype:width:wrong`` against the same formula computed here. It
needs only the standard library: a child that imports numpy and pyopencl spends
0.2-0.35 s of its ~1.2 s on the imports, and the first compile waits for the child.
A crash or a hang is the parent's to read (``run_child``).
"""
import ctypes
import math
import string
import struct
import sys

MEM_READ_WRITE, MEM_COPY_HOST_PTR = 1 << 0, 1 << 5
PLATFORM_NAME, DEVICE_NAME, DEVICE_TYPE_ALL = 0x0902, 0x102B, 0xFFFFFFFF

P, U, S, Q, I = (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_size_t, ctypes.c_uint64,
                 ctypes.c_int32)
SIGNATURES = {      # name: (result, arguments), as the OpenCL headers declare them
    "clGetPlatformIDs": (I, [U, P, P]),
    "clGetPlatformInfo": (I, [P, U, S, P, P]),
    "clGetDeviceIDs": (I, [P, Q, U, P, P]),
    "clGetDeviceInfo": (I, [P, U, S, P, P]),
    "clCreateContext": (P, [P, U, P, P, P, P]),
    "clCreateCommandQueue": (P, [P, P, Q, P]),
    "clCreateProgramWithSource": (P, [P, U, P, P, P]),
    "clBuildProgram": (I, [P, U, P, ctypes.c_char_p, P, P]),
    "clCreateKernel": (P, [P, ctypes.c_char_p, P]),
    "clCreateBuffer": (P, [P, Q, S, P, P]),
    "clSetKernelArg": (I, [P, U, S, P]),
    "clEnqueueNDRangeKernel": (I, [P, P, U, P, P, P, U, P, P]),
    "clEnqueueReadBuffer": (I, [P, P, U, S, S, P, U, P, P]),
    "clFinish": (I, [P]),
}
cl = ctypes.CDLL(sys.argv[1])
for _name, (_result, _arguments) in SIGNATURES.items():
    getattr(cl, _name).restype, getattr(cl, _name).argtypes = _result, _arguments


def check(code: int, what: str) -> None:
    if code != 0:
        raise SystemExit(f"{what} failed: OpenCL error {code}")


def info(get, handle, key: int) -> str:
    size = ctypes.c_size_t()
    check(get(handle, key, 0, None, ctypes.byref(size)), "an info query")
    value = ctypes.create_string_buffer(size.value)
    check(get(handle, key, size, value, None), "an info query")
    return value.value.decode(errors="replace").strip()


def handles(get, *args) -> list:
    count = ctypes.c_uint32()
    check(get(*args, 0, None, ctypes.byref(count)), "a listing")
    found = (ctypes.c_void_p * count.value)()
    check(get(*args, count, found, None), "a listing")
    return list(found)


def find_device(platform: str, device: str) -> int:
    for p in handles(cl.clGetPlatformIDs):
        if info(cl.clGetPlatformInfo, p, PLATFORM_NAME) != platform:
            continue
        for d in handles(cl.clGetDeviceIDs, p, DEVICE_TYPE_ALL):
            if info(cl.clGetDeviceInfo, d, DEVICE_NAME) == device:
                return d
    raise SystemExit(f"no device {device!r} on platform {platform!r}")


def expected(x: float) -> float:
    """The probe kernel's formula, as numpy computes it in the pyopencl child."""
    y = math.exp(x) * 0.5 + max(x, 0.0) * math.tanh(x)
    return (x if x > 0.25 else y) + math.trunc(x * 4)


def run(ctx, queue, dev, template: str, dtype: str, width: int) -> bool:
    T, fmt = {"float32": ("float", "f"), "float64": ("double", "d")}[dtype]
    pragma = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable" if T == "double" else ""
    source = string.Template(template).substitute(T=T, W=width, V=f"{T}{width}",
                                                  pragma=pragma).encode()
    n = 4 * width
    host = struct.pack(f"{n}{fmt}", *(-1 + 2 * i / (n - 1) for i in range(n)))
    x = struct.unpack(f"{n}{fmt}", host)            # the values as the device holds them
    err = ctypes.c_int32()
    text = ctypes.c_char_p(source)
    program = cl.clCreateProgramWithSource(ctx, 1, ctypes.byref(text), None,
                                           ctypes.byref(err))
    check(err.value, "clCreateProgramWithSource")
    check(cl.clBuildProgram(program, 1, ctypes.byref(dev), None, None, None),
          "clBuildProgram")
    kernel = cl.clCreateKernel(program, b"probe", ctypes.byref(err))
    check(err.value, "clCreateKernel")
    data = ctypes.create_string_buffer(host, len(host))
    buf = P(cl.clCreateBuffer(ctx, MEM_READ_WRITE | MEM_COPY_HOST_PTR, len(host), data,
                              ctypes.byref(err)))
    check(err.value, "clCreateBuffer")
    check(cl.clSetKernelArg(kernel, 0, ctypes.sizeof(buf), ctypes.byref(buf)),
          "clSetKernelArg")
    items, local = (ctypes.c_size_t * 1)(4), (ctypes.c_size_t * 1)(1)
    check(cl.clEnqueueNDRangeKernel(queue, kernel, 1, None, items, local, 0, None, None),
          "clEnqueueNDRangeKernel")
    check(cl.clEnqueueReadBuffer(queue, buf, 1, 0, len(host), data, 0, None, None),
          "clEnqueueReadBuffer")
    check(cl.clFinish(queue), "clFinish")
    got = struct.unpack(f"{n}{fmt}", data.raw)
    # numpy's allclose(got, want, rtol=1e-4, atol=1e-5); a NaN compares false
    return all(abs(g - w) <= 1e-5 + 1e-4 * abs(w) for g, w in zip(got, map(expected, x)))


def main() -> None:
    dev = P(find_device(sys.argv[2], sys.argv[3]))
    err = ctypes.c_int32()
    ctx = cl.clCreateContext(None, 1, ctypes.byref(dev), None, None, ctypes.byref(err))
    check(err.value, "clCreateContext")
    queue = cl.clCreateCommandQueue(ctx, dev, 0, ctypes.byref(err))
    check(err.value, "clCreateCommandQueue")
    for pair in sys.argv[5:]:
        dtype, width = pair.split(":")
        ok = run(ctx, queue, dev, sys.argv[4], dtype, int(width))
        print(f"{dtype}:{width}:{'ok' if ok else 'wrong'}", flush=True)


if __name__ == "__main__":
    main()
