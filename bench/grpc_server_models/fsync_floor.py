"""Floor: CPU and context switches of append 1 KiB + fdatasync alone, one thread, no gRPC."""
import os, resource, time
fd = os.open(os.environ.get("FLOOR_FILE", "floor.dat"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
rec = b"x" * 1024
for rep in range(3):
    r0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
    n = 3000
    for _ in range(n):
        os.write(fd, rec); os.fdatasync(fd)
    t1 = time.perf_counter(); r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / n * 1e6
    print(f"write+fdatasync: {(t1-t0)/n*1e6:.0f} us wall, {cpu:.0f} us CPU, {(r1.ru_nvcsw-r0.ru_nvcsw)/n:.2f} vcsw per op")
os.unlink(os.environ.get("FLOOR_FILE", "floor.dat"))
