# fast-crewai-server container.
#
# Both stages install through deploy/install-deps.sh, the same script CI and `make` use, so the
# image cannot drift from what the test suite builds and exercises.
#
#   docker build -t fast-crewai-server .
#   docker run -p 50051:50051 -v fast-crewai-data:/var/lib/fast-crewai fast-crewai-server

# ---- build stage: compilers, -dev packages, the full build --------------------------------
FROM debian:bookworm AS build
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN bash deploy/install-deps.sh --system && rm -rf /var/lib/apt/lists/*
COPY VERSION CMakeLists.txt ./
COPY proto proto
COPY server server
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DFAST_CREWAI_BUILD_TESTS=OFF -DFAST_CREWAI_BUILD_BENCH=OFF \
 && cmake --build build -j 2 --target fast-crewai-server \
 && strip build/server/fast-crewai-server

# ---- runtime stage: only the shared libraries the binary links ----------------------------
FROM debian:bookworm-slim AS runtime
COPY deploy/install-deps.sh /tmp/install-deps.sh
RUN bash /tmp/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
 && groupadd --system --gid 10001 fast-crewai \
 && useradd --system --uid 10001 --gid fast-crewai --home-dir /var/lib/fast-crewai --shell /usr/sbin/nologin fast-crewai \
 && mkdir -p /var/lib/fast-crewai \
 && chown fast-crewai:fast-crewai /var/lib/fast-crewai
COPY --from=build /src/build/server/fast-crewai-server /usr/local/bin/fast-crewai-server

USER fast-crewai:fast-crewai
ENV FAST_CREWAI_LISTEN=0.0.0.0:50051 \
    FAST_CREWAI_DATA_DIR=/var/lib/fast-crewai
VOLUME ["/var/lib/fast-crewai"]
EXPOSE 50051
# The binary doubles as a grpc.health.v1 probe, so the image needs no extra tool.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["fast-crewai-server", "--probe=127.0.0.1:50051"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["fast-crewai-server"]
