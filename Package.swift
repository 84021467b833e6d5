// swift-tools-version:6.0
import PackageDescription

/// Foundation's static libraries and those they need, for `-static-stdlib` (the Swift driver links
/// only the runtime's own for it).
let staticFoundation = ["CoreFoundation", "FoundationInternationalization", "_FoundationICU", "_FoundationCShims",
                        "_FoundationCollections", "FoundationEssentials", "swiftSynchronization", "swift_StringProcessing",
                        "swift_RegexParser", "swift_Concurrency", "swiftDispatch", "dispatch", "BlocksRuntime", "swiftGlibc",
                        "stdc++"].map { "-l" + $0 }

/// Release builds reach generic types' metadata through their accessors, with the conformances passed
/// in, instead of demangling the type's name at run time: a name such as
/// `KeyedEncodingContainer<CodingKeys>` or `_DictionaryStorage<PatternKey, Int>`, demangled, makes the
/// runtime look up each conformance its generic requirements name by scanning every conformance
/// record of the (statically linked) binary once per type (~250 000 instructions each; issue 22).
let directMetadataAccess: [SwiftSetting] = [
    .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"], .when(configuration: .release)),
]

/// Release builds of the library leave out the run-time exclusivity checks (each access to a class's
/// stored `var` the compiler cannot prove alone registered and looked up in the thread's access
/// set: ~120 000 accesses, 8 M instructions, in `simulate --example sine --T 1e5`, mostly
/// `ModeField`'s counters and memos in every field evaluation; issue 22). They only trap on an
/// overlapping access, which is a bug: debug builds, so `swift test`, keep them.
let uncheckedExclusivity: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

/// Release builds of the command are linked at a fixed address (not position-independent): the
/// statically linked runtime and Foundation carry ~77 500 relative relocations (pointers in
/// .data.rel.ro and .data), which a position-independent executable has the dynamic loader apply at
/// every start, writing (and so copying) ~230 pages; linked at a fixed address they are resolved by
/// the linker (issue 22). The code is compiled position-independent either way; only the
/// executable's own image loses address randomisation (the shared libraries keep it).
let fixedAddress = ["-Xclang-linker", "-no-pie"]

/// Release builds of the command take GSL, its CBLAS and libstdc++ from their static archives
/// (`LinkStatic/`: linker scripts named `libgsl.so`, `libgslcblas.so` and `libstdc++.so` that stand
/// for `libgsl.a`, `libgslcblas.a` and `libstdc++.a`, found before the shared libraries because
/// this directory is searched first; CGSL has no pkg-config entry for the same reason, its
/// `-L/usr/lib/x86_64-linux-gnu` would come before it) and libgcc's unwinder from libgcc_eh.a:
/// the process then maps only libc and libm, and the dynamic loader no longer loads, relocates
/// and binds libstdc++, libgcc_s, libgsl and libgslcblas at every start (issue 22). The same code
/// runs (GSL's calls to cblas_* resolve to reference_blas.c's functions at link time instead of
/// by interposition; reference_blas.c's forwarding still dlopens libgslcblas.so.0; OpenBLAS and
/// librsvg/cairo are still loaded with dlopen, which a fully static executable cannot do safely).
/// The archives come with libgsl-dev and GCC's libstdc++ development files.
let staticLibraries = ["-L" + Context.packageDirectory + "/LinkStatic", "-Xclang-linker", "-static-libgcc"]

/// Release builds of the command export none of their own symbols. The static runtime's link
/// arguments ask for `-export-dynamic` (with the archives' symbols excluded), so every public
/// symbol of ReluFlow, ArgumentParser and the C targets' objects (~5 060) went into the dynamic
/// symbol table, which the runtime's start scans once through `dladdr` (its backtracer looking for
/// its own path) and the dynamic loader's lookups consult (issue 22). Nothing looks them up: the
/// libraries loaded later with dlopen (OpenBLAS, libgslcblas, librsvg and cairo) are opened
/// RTLD_LOCAL and call their own functions, and the executable finds theirs with dlsym on their
/// handles. The symbols of glibc's data the program refers to (`stderr`) stay, as the linker
/// requires. `LinkStatic/local-symbols.map`: `local: *`.
let localSymbols = ["-Xlinker", "--version-script=" + Context.packageDirectory + "/LinkStatic/local-symbols.map"]

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
        // No pkgConfig: its -L/usr/lib/x86_64-linux-gnu would be searched before LinkStatic/
        // (staticLibraries); the module map links gsl and gslcblas, the headers are in /usr/include.
        .systemLibrary(
            name: "CGSL",
            providers: [.apt(["libgsl-dev"])]
        ),
        // LAPACK through OpenBLAS (Debian: libopenblas-dev): minimum-norm least squares (dgelsd)
        // for pattern floors and regression lines, SVD (dgesdd) for the tangent projector of
        // ModeCurvature, dgemm and the symmetric eigensolvers for deep networks and curvature.
        // OpenBLAS, not the reference liblapack-dev: 0.38 s against 4.3 s for one 10⁴ × 760
        // pattern-floor design (README, "Performance", Least squares). Loaded with dlopen
        // (RTLD_LOCAL) the first time a routine is called, not linked: linked, it made every command's
        // start slower by 8 M instructions of relocation and its thread pool (issue 22), and its
        // cblas_* symbols stay out of the process's global scope, so GSL's BLAS calls bind to the
        // reference CBLAS: CFieldKernels/reference_blas.c's bitwise copies of its shapes, libgslcblas for
        // the rest (BLASLinkageTests, ReferenceBLASTests).
        .target(name: "CLapack", linkerSettings: [.linkedLibrary("dl")]),
        // librsvg + cairo (Debian: librsvg2-2, libcairo2; .ci/setup installs their -dev packages): the
        // figures' SVG rendered to PNG (cairo image surface) and PDF (cairo PDF surface) through their C
        // APIs (Plot/Renderer.swift), loaded with dlopen when a figure is first rendered, not linked:
        // linking them made every command's start 6 ms slower (44 more shared libraries).
        .target(name: "CRender", linkerSettings: [.linkedLibrary("dl")]),
        // The field's two passes in 256-bit lanes (AVX2, chosen at run time; bitwise equal results).
        .target(name: "CFieldKernels"),
        // printf's conversions of one double (snprintf), for NumberText (issue 22).
        .target(name: "CNumberText"),
        .target(
            name: "ReluFlow",
            dependencies: ["CGSL", "CLapack", "CFieldKernels", "CRender", "CNumberText"],
            swiftSettings: directMetadataAccess + uncheckedExclusivity
        ),
        // Release builds of the command link the Swift runtime and Foundation statically: a command's
        // start then relocates and searches 8 shared libraries instead of 22 (issue 22: ~12 M
        // instructions fewer per run). Debug builds (and so `swift test`, whose bundle links this
        // target's code beside the dynamically linked XCTest) stay dynamic.
        .executableTarget(
            name: "reluflow",
            dependencies: [
                "ReluFlow",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: directMetadataAccess,
            linkerSettings: [.unsafeFlags(["-static-stdlib"] + staticFoundation + fixedAddress + staticLibraries + localSymbols, .when(configuration: .release))]
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
