// swift-tools-version: 6.2
// SOTP: one daemon, sotpd, that polls devices and receives telemetry into TimescaleDB.
import PackageDescription

/// Targets that hold unsafe code (syscalls, libpq, raw buffers) are built with strict memory safety so
/// every unsafe use is marked; everything else is plain safe Swift.
let strict: [SwiftSetting] = [.strictMemorySafety()]

let package = Package(
    name: "sotp",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sotpd", targets: ["sotpd"]),
        .library(name: "Capture", targets: ["Capture"]),
        .library(name: "Flow", targets: ["Flow"]),
        .library(name: "Poller", targets: ["Poller"]),
        .library(name: "Sink", targets: ["Sink"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        // sotpd's HTTP API. Hummingbird's default traits pull in swift-configuration, which sotpd does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Capture's TCP/TLS syslog listener. Same URLs as Hummingbird's, so both resolve to one checkout.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // SNMPv3 USM: HMAC-MD5/SHA, SHA-2 and AES-CFB (AES._CFB is in _CryptoExtras) for the Poller target.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // Tests only: reads deploy/grafana's provisioning YAML (GrafanaDashboardTests).
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // Alert webhooks (HTTP and HTTPS, with timeouts) from the daemon.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // C and system libraries.
        .target(name: "CSOTPLinux", cSettings: [.define("_GNU_SOURCE")]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .systemLibrary(name: "CNetSNMP", pkgConfig: "netsnmp", providers: [.apt(["libsnmp-dev"])]),
        .systemLibrary(name: "CJemalloc", pkgConfig: "jemalloc", providers: [.apt(["libjemalloc-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Libraries.
        .target(
            name: "Capture",
            dependencies: [
                "CSOTPLinux", "CPcap",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .target(name: "Flow"),
        .target(
            name: "Poller",
            dependencies: [
                "Capture", "CSOTPLinux", "CNetSNMP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Sink",
            dependencies: ["CLibPQ", "CZlib", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),

        // The daemon.
        .executableTarget(
            name: "sotpd",
            dependencies: [
                "Capture", "Flow", "Poller", "Sink", "CJemalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // SHA-256 of API tokens.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // Tests mirror Sources; TestSupport reaches the real database the scripts start and builds test
        // hosts in network namespaces.
        .target(name: "TestSupport", dependencies: ["Sink"], path: "Tests/TestSupport"),
        // Answers pings inside a test namespace with a set delay and loss (this kernel has no tc netem).
        .executableTarget(
            name: "sotp-test-responder", path: "Tests/Responder", cSettings: [.define("_GNU_SOURCE")]
        ),
        .testTarget(name: "CaptureTests", dependencies: ["Capture"]),
        .testTarget(name: "FlowTests", dependencies: ["Flow"]),
        .testTarget(name: "PollerTests", dependencies: ["Poller", "TestSupport"]),
        .testTarget(name: "SinkTests", dependencies: ["Sink", "TestSupport"]),
        .testTarget(
            name: "sotpdTests",
            dependencies: [
                "sotpd", "Capture", "Flow", "Sink", "TestSupport", .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
