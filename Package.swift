// swift-tools-version:5.9
import PackageDescription

let package = Package(
  name: "clrp",
  products: [
    .library(name: "Relevance", targets: ["Relevance", "TensorKernels"]),
    .executable(name: "clrp", targets: ["clrp"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
  ],
  targets: [
    .systemLibrary(
      name: "COpenBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CProtobufC", pkgConfig: "libprotobuf-c",
      providers: [.apt(["libprotobuf-c-dev"])]),
    .target(
      name: "ONNXProto", dependencies: ["CProtobufC"],
      exclude: ["onnx.proto", "regenerate.sh"],
      linkerSettings: [.linkedLibrary("protobuf-c")]),
    .target(
      name: "CImageCodecs",
      linkerSettings: [.linkedLibrary("png"), .linkedLibrary("jpeg")]),
    .target(
      name: "CKernels",
      cSettings: [.unsafeFlags(["-O3"], .when(configuration: .release))]),
    .target(name: "CFloatEnvironment"),
    .target(name: "CThreadPool", linkerSettings: [.linkedLibrary("pthread", .when(platforms: [.linux]))]),
    .target(
      name: "TensorKernels", dependencies: ["COpenBLAS", "CKernels", "CFloatEnvironment", "CThreadPool"],
      swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
    .target(
      name: "Relevance", dependencies: ["TensorKernels", "ONNXProto", "CImageCodecs", .product(name: "Yams", package: "Yams")],
      swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
    .executableTarget(
      name: "clrp",
      dependencies: ["Relevance", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    .testTarget(name: "TensorKernelsTests", dependencies: ["TensorKernels", "CKernels", "CThreadPool"]),
    .testTarget(name: "RelevanceTests", dependencies: ["Relevance"]),
    .testTarget(name: "CLITests", dependencies: ["clrp", "Relevance"]),
  ]
)
