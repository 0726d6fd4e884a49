import ArgumentParser
import Foundation
import Relevance

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Time the forward pass or an explanation and compare with onnxruntime / Zennit in the same run.",
    discussion: """
      With --forward (the default), times the compiled forward plan; with --rules, times
      explaining the top --signals classes of one image (forward pass included) with that
      rule set; with --method, times `clrp explain --method M` for the top --targets classes
      (forward pass and start signals included; the compiled plans are cached, as they are
      when an explainer serves many images). Each is run --runs times after one warm-up run on a seeded random input;
      the median, the minimum, GFLOP/s of the conv and dense layers, the peak resident
      memory and the median CPU time of the process per run are reported (with --threads 1,
      the CPU-time ratio to onnxruntime hardly depends on the machine's load). Unless --no-reference is given, the same work is timed in
      onnxruntime (Graphs/bench_onnxruntime.py) or Zennit (Graphs/bench_zennit.py, torchvision
      architecture named by --zennit-arch or guessed from the file name) through python3, and
      the ratio is printed. Build in release mode: `swift build -c release`.

      Examples:
        .build/release/clrp bench Graphs/build/vgg16.onnx --forward --runs 10
        .build/release/clrp bench Graphs/build/vgg16.onnx --rules paper --signals 2 --json
        .build/release/clrp bench Graphs/build/vgg16.onnx --method clrp2 --targets 5
        .build/release/clrp bench Graphs/build/mobilenet_v2.onnx --convs --runs 20
        .build/release/clrp bench Graphs/build/mobilenet_v2.onnx --forward --threads 1 --runs 20

      With --convs, every convolution of the forward pass is timed on its own (its input as the
      forward pass computes it, median of --runs calls) and the times are summed per kind:
      depthwise, pointwise (1×1), grouped and regular, by kernel size and stride.
      """)

  @Argument(help: "The ONNX model.") var model: String
  @Flag(help: "Benchmark the forward pass (default when --rules is not given).") var forward = false
  @Option(help: "Benchmark explanations with this rule preset or YAML file.") var rules: String?
  @Option(help: "Relevance signals explained at once (the top classes).") var signals = 1
  @Option(help: "Benchmark an explanation method (lrp, clrp1, clrp2, sglrp, gradient, ...); its default rules unless --rules.")
  var method: String?
  @Option(help: "Classes explained at once with --method (the top ones).") var targets = 1
  @Option(help: "Preprocessing for zbox bounds: imagenet, unit or a YAML file.") var preprocess = "imagenet"
  @Option(help: "Timed runs (median reported).") var runs = 5
  @Option(help: "Images per batch (forward only).") var batch = 1
  @Option(help: "torchvision architecture for the Zennit comparison (\(ZennitArchitectures.names.joined(separator: ", "))).")
  var zennitArch: String?
  @Flag(help: "Time every convolution of the forward pass on its own, grouped by kind (depthwise, 1×1, ...).")
  var convs = false
  @Option(help: "Threads of clrp's pool (its kernels and GEMMs), and of onnxruntime or Zennit's torch (default: all cores).")
  var threads: Int?
  @Flag(help: "Skip the onnxruntime / Zennit comparison.") var noReference = false
  @Flag(help: "Print JSON.") var json = false
  @Option(help: "Memory budget, e.g. 8G or 512M (default: 75 % of the machine's memory); larger models or batches are refused.")
  var maxMemory: String?

  func run() throws {
    try reportingErrors {
      guard runs > 0, batch > 0, signals > 0, targets > 0, (threads ?? 1) > 0 else {
        throw ModelError("--runs, --batch, --signals, --targets and --threads must be positive")
      }
      if let threads { Kernels.threadCount = threads }
      try applyMemoryBudget(maxMemory)
      let model = try loadModel(model)
      let method = try self.method.map { try ExplanationMethod.parseList($0) }
      if let method, method.count != 1 { throw ModelError("--method takes one method") }
      let explaining = (rules != nil || method != nil) && !forward
      let shape = try model.inputShape(batch: explaining ? 1 : (model.fixedBatch ?? batch))
      let preprocessing = try Preprocessing.load(nameOrPath: preprocess)
      // Canonicalizing checks the memory a forward pass needs: before the random input is made.
      let graph = try model.canonical(inputShape: shape)
      let input = randomImage(shape, preprocessing)
      if convs { return try ConvTimings.measure(graph: graph, input: input, runs: runs, json: json) }
      let macs = graph.nodes.reduce(0) { $0 + graph.multiplyAccumulates($1) }
      let work: () throws -> Void
      var what = "forward"
      if explaining, let method = method?.first {
        let explainer = Explainer(model: model, rules: rules, preprocessing: preprocessing)
        work = { _ = try explainer.explain(input, method: method, targets: .top(targets)) }
        what = "\(method) (rules \(rules ?? method.defaultRules)), top \(targets) class\(targets == 1 ? "" : "es")"
      } else if explaining, let rules {
        let assignment = try RuleSet.load(nameOrPath: rules).assign(to: graph, preprocessing: preprocessing)
        let plan = try RelevancePlan(graph: graph, rules: assignment.rules)
        work = { _ = try plan.explainTopClasses(input, count: signals, layerSums: false) }
        what = "\(rules), \(signals) signal\(signals == 1 ? "" : "s")"
      } else {
        let plan = try ForwardPlan(graph: graph)
        work = { _ = try plan.run(input) }
      }
      try work()
      var times: [Double] = [], cpuTimes: [Double] = []
      for i in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds, cpuStart = Statistics.processCPUSeconds()
        try work()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        cpuTimes.append(Statistics.processCPUSeconds() - cpuStart)
        if !json { FileHandle.standardError.write(Data("\rrun \(i + 1)/\(runs)".utf8)) }
      }
      if !json { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
      let median = Statistics.median(times)
      var result: [String: Any] = [
        "model": self.model, "input_shape": shape, "runs": runs, "work": what,
        "median_seconds": median, "min_seconds": times.min()!, "median_cpu_seconds": Statistics.median(cpuTimes),
        "peak_rss_bytes": Statistics.peakResidentBytes(), "gflops": 2 * Double(macs) / median / 1e9,
        "blas_kernels": BLASCore.current, "threads": threads ?? Kernels.threadCount,
      ]
      var reference: (name: String, seconds: Double, rss: Int?, cpu: Double?)?
      if !noReference {
        if explaining {
          let arch = zennitArch ?? ZennitArchitectures.guess(fromFileName: self.model)
          let work = method.map { ["--method", $0[0].rawValue, "--targets", String(targets)] }
            ?? ["--rules", rules!, "--signals", String(signals)]
          if let arch, let r = try? PythonBench.run("bench_zennit.py", ["--arch", arch] + work
                                                      + ["--runs", String(runs), "--size", String(shape.last!)]
                                                      + (threads.map { ["--threads", String($0)] } ?? [])) {
            reference = ("zennit", r.median, r.rss, r.cpu)
          }
        } else if let r = try? PythonBench.run("bench_onnxruntime.py", [self.model, "--shape", shape.map(String.init).joined(separator: ","),
                                                                       "--runs", String(runs)]
                                                 + (threads.map { ["--threads", String($0)] } ?? [])) {
          reference = ("onnxruntime", r.median, r.rss, r.cpu)
        }
        if let reference {
          result["\(reference.name)_median_seconds"] = reference.seconds
          result["ratio_vs_\(reference.name)"] = median / reference.seconds
          if let cpu = reference.cpu {
            result["\(reference.name)_median_cpu_seconds"] = cpu
            result["cpu_ratio_vs_\(reference.name)"] = Statistics.median(cpuTimes) / cpu
          }
          if let rss = reference.rss { result["\(reference.name)_peak_rss_bytes"] = rss }
        }
      }
      if json {
        try printJSON(result)
        return
      }
      print("\(self.model)  input \(formatShape(shape)), \(what), \(runs) runs, OpenBLAS kernels \(BLASCore.current)"
            + (threads.map { ", \($0) thread\($0 == 1 ? "" : "s")" } ?? ""))
      print(String(format: "clrp           median %.4f s   min %.4f s   %.1f GFLOP/s (conv+dense, forward only)   peak RSS %.0f MB   CPU %.4f s",
                   median, times.min()!, 2 * Double(macs) / median / 1e9, Double(Statistics.peakResidentBytes()) / 1e6,
                   Statistics.median(cpuTimes)))
      if let reference {
        print(String(format: "%-14@ median %.4f s", reference.name as NSString, reference.seconds)
              + (reference.rss.map { String(format: "   peak RSS %.0f MB", Double($0) / 1e6) } ?? ""))
        print(String(format: "ratio clrp / %@: %.2f", reference.name as NSString, median / reference.seconds)
              + (reference.cpu.map { String(format: "   (CPU time: %.2f)", Statistics.median(cpuTimes) / $0) } ?? ""))
      } else if !noReference {
        print("reference: not available (needs python3 with \(explaining ? "torch, torchvision and zennit" : "onnxruntime"); see Graphs/)")
      }
    }
  }
}

/// The torchvision architectures Graphs/bench_zennit.py can build (its `--arch` choices).
enum ZennitArchitectures {
  static let names = ["vgg16", "alexnet", "googlenet", "resnet50", "mobilenet_v3_large", "efficientnet_b0"]

  /// The architecture whose name the model's file name contains (`resnet50_legacy.onnx` → resnet50), if any.
  static func guess(fromFileName path: String) -> String? {
    let file = URL(fileURLWithPath: path).lastPathComponent.lowercased()
    return names.first { file.contains($0) }
  }
}

enum Statistics {
  /// CPU time of the whole process (all threads, user and system) so far. With one thread it
  /// measures the work done whatever the machine's load; with several it also counts threads
  /// that spin while they wait.
  static func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
  }

  static func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }

  /// Peak resident set size of this process: `VmHWM` of /proc/self/status (ru_maxrss carries
  /// the parent's high-water mark across exec, so it overstates when a big process starts clrp).
  static func peakResidentBytes() -> Int {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kB = Int(line.split(separator: " ").dropFirst().first ?? "") {
      return kB * 1024
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
  }
}

/// Runs a timing script of `Graphs/` (found from the working directory or the source tree)
/// and reads its JSON answer.
enum PythonBench {
  static func run(_ script: String, _ arguments: [String]) throws -> (median: Double, rss: Int?, cpu: Double?) {
    let candidates = [FileManager.default.currentDirectoryPath + "/Graphs/" + script,
                      URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                        .deletingLastPathComponent().appendingPathComponent("Graphs/" + script).path]
    guard let path = candidates.first(where: FileManager.default.fileExists) else { throw ModelError("\(script) missing") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", path] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0,
          let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let median = object["median_seconds"] as? Double else { throw ModelError("\(script) failed") }
    return (median, object["peak_rss_bytes"] as? Int, object["median_cpu_seconds"] as? Double)
  }
}
