// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ReluFlow",
    products: [
        .library(name: "ReluFlow", targets: ["ReluFlow"]),
        .executable(name: "reluflow", targets: ["reluflow"]),
        .executable(name: "reluflow-bench", targets: ["reluflow-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // GSL (Debian: libgsl-dev): ODE steppers, root finding, least squares, eigenvalues.
        .systemLibrary(
            name: "CGSL",
            pkgConfig: "gsl",
            providers: [.apt(["libgsl-dev"])]
        ),
        // LAPACK through OpenBLAS (Debian: libopenblas-dev): minimum-norm least squares (dgelsd)
        // for pattern floors and regression lines, SVD (dgesdd) for the tangent projector of
        // ModeCurvature. OpenBLAS, not the reference liblapack-dev: 0.38 s against 4.3 s for one
        // 10⁴ × 760 pattern-floor design (README, "Performance", Least squares). It must come after CGSL in
        // ReluFlow's dependencies: GSL's cblas_* calls then bind to the reference libgslcblas, not
        // to OpenBLAS's (BLASLinkageTests).
        .systemLibrary(
            name: "CLapack",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // librsvg + cairo (Debian: librsvg2-2, libcairo2; .ci/setup installs their -dev packages): the
        // figures' SVG rendered to PNG (cairo image surface) and PDF (cairo PDF surface) through their C
        // APIs (Plot/Renderer.swift), loaded with dlopen when a figure is first rendered, not linked:
        // linking them made every command's start 6 ms slower (44 more shared libraries).
        .target(name: "CRender", linkerSettings: [.linkedLibrary("dl")]),
        // The field's two passes in 256-bit lanes (AVX2, chosen at run time; bitwise equal results).
        .target(name: "CFieldKernels"),
        .target(
            name: "ReluFlow",
            dependencies: ["CGSL", "CLapack", "CFieldKernels", "CRender"]
        ),
        .executableTarget(
            name: "reluflow",
            dependencies: [
                "ReluFlow",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Benchmarks: `swift run -c release reluflow-bench` (README, "Performance").
        .executableTarget(
            name: "reluflow-bench",
            dependencies: [
                "ReluFlow",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "ReluFlowTests",
            dependencies: ["ReluFlow", "reluflow"]
        ),
    ]
)
