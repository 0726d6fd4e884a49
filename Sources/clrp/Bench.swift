import ArgumentParser
import Foundation
import Relevance

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Time the forward pass and compare it with onnxruntime in the same run.",
    discussion: """
      Runs the compiled forward plan on a seeded random input --runs times after one warm-up
      run and reports the median, the minimum and the peak resident memory. With --forward
      (the default) and python3 + onnxruntime installed, the same model, input shape and run
      count are timed in onnxruntime (Graphs/bench_onnxruntime.py) and the ratio is printed.
      Build in release mode for meaningful numbers: `swift build -c release`.

      Example:
        .build/release/clrp bench Graphs/build/vgg16.onnx --forward --runs 10
      """)

  @Argument(help: "The ONNX model.") var model: String
  @Flag(help: "Benchmark the forward pass.") var forward = false
  @Option(help: "Timed runs (median reported).") var runs = 5
  @Option(help: "Images per batch.") var batch = 1
  @Flag(help: "Skip the onnxruntime comparison.") var noOnnxruntime = false
  @Flag(help: "Print JSON.") var json = false

  func run() throws {
    try reportingErrors {
      guard runs > 0, batch > 0 else { throw ModelError("--runs and --batch must be positive") }
      let model = try loadModel(model)
      let shape = try model.inputShape(batch: model.fixedBatch ?? batch)
      let plan = try model.forwardPlan(inputShape: shape)
      var seed: UInt64 = 42
      let input = Tensor(shape: shape, data: (0..<shape.elementCount).map { _ in
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: seed >> 11) % 2000) / 1000 - 1
      })
      _ = try plan.run(input)
      var times: [Double] = []
      for i in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try plan.run(input)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        if !json { FileHandle.standardError.write(Data("\rrun \(i + 1)/\(runs)".utf8)) }
      }
      if !json { FileHandle.standardError.write(Data("\r".utf8)) }
      let median = Statistics.median(times)
      let macs = plan.graph.nodes.reduce(0) { $0 + plan.graph.multiplyAccumulates($1) }
      var result: [String: Any] = [
        "model": self.model, "input_shape": shape, "runs": runs,
        "median_seconds": median, "min_seconds": times.min()!,
        "peak_rss_bytes": Statistics.peakResidentBytes(), "gflops": 2 * Double(macs) / median / 1e9,
      ]
      var ortMedian: Double?
      if !noOnnxruntime {
        ortMedian = try? OnnxRuntimeBench.median(model: self.model, shape: shape, runs: runs)
        if let ortMedian {
          result["onnxruntime_median_seconds"] = ortMedian
          result["ratio_vs_onnxruntime"] = median / ortMedian
        }
      }
      if json {
        let data = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        return
      }
      print("\(self.model)  input \(formatShape(shape)), \(runs) runs")
      print(String(format: "clrp forward     median %.4f s   min %.4f s   %.1f GFLOP/s   peak RSS %.0f MB",
                   median, times.min()!, 2 * Double(macs) / median / 1e9, Double(Statistics.peakResidentBytes()) / 1e6))
      if let ortMedian {
        print(String(format: "onnxruntime      median %.4f s", ortMedian))
        print(String(format: "ratio clrp / onnxruntime: %.2f", median / ortMedian))
      } else if !noOnnxruntime {
        print("onnxruntime: not available (needs python3 with onnxruntime and Graphs/bench_onnxruntime.py)")
      }
    }
  }
}

enum Statistics {
  static func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }

  /// Peak resident set size of this process (Linux ru_maxrss is in kilobytes).
  static func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
  }
}

/// Times onnxruntime through `Graphs/bench_onnxruntime.py` (found next to the working
/// directory or the executable's package) and returns its median seconds.
enum OnnxRuntimeBench {
  static func median(model: String, shape: [Int], runs: Int) throws -> Double {
    let candidates = [FileManager.default.currentDirectoryPath + "/Graphs/bench_onnxruntime.py",
                      URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                        .deletingLastPathComponent().appendingPathComponent("Graphs/bench_onnxruntime.py").path]
    guard let script = candidates.first(where: FileManager.default.fileExists) else { throw ModelError("bench script missing") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script, model, "--shape", shape.map(String.init).joined(separator: ","), "--runs", String(runs)]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0,
          let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let median = object["median_seconds"] as? Double else { throw ModelError("onnxruntime benchmark failed") }
    return median
  }
}
