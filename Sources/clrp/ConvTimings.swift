import Foundation
import Relevance

/// `clrp bench --convs`: the time of each convolution of a forward pass on its own, summed by
/// kind, to see which conv kernels a model spends its time in.
enum ConvTimings {
  /// The kind of a convolution for the summary, e.g. "depthwise 3x3/2", "pointwise 1x1/1",
  /// "grouped 3x3/1 (g=32)", "regular 7x7/2".
  static func kind(_ conv: Conv2D, weight: [Int], channels: Int) -> String {
    let w = conv.window
    let size = "\(w.kernelH)x\(w.kernelW)/\(w.strideH)" + (w.strideW == w.strideH ? "" : ",\(w.strideW)")
      + (w.dilationH == 1 && w.dilationW == 1 ? "" : " dil \(w.dilationH)")
    if conv.group > 1 && conv.group == channels && weight[0] == channels { return "depthwise " + size }
    if conv.group > 1 { return "grouped " + size + " (g=\(conv.group))" }
    if w.kernelH == 1 && w.kernelW == 1 { return "pointwise " + size }
    return "regular " + size
  }

  static func measure(graph: Graph, input: Tensor, runs: Int, json: Bool) throws {
    try Kernels.withSubnormalsFlushed { try measureFlushed(graph: graph, input: input, runs: runs, json: json) }
  }

  /// Times the convolutions under the same floating-point mode as `ForwardPlan.run`.
  private static func measureFlushed(graph: Graph, input: Tensor, runs: Int, json: Bool) throws {
    let plan = try ForwardPlan(graph: graph)
    let convNodes = graph.nodes.filter { if case .conv = $0.op { return true } else { return false } }
    let values = try plan.run(input, keep: Set(convNodes.map { $0.inputs[0] }))
    var byKind: [String: (seconds: Double, macs: Int, count: Int)] = [:]
    var total = 0.0
    for node in convNodes {
      guard case .conv(let conv) = node.op, let x = values[node.inputs[0]], let weight = graph.constant(node, 1)?.tensor
      else { continue }
      let bias = graph.constant(node, 2)?.floats
      _ = Kernels.conv2d(x, weight: weight, bias: bias, window: conv.window, group: conv.group)
      var times: [Double] = []
      for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        _ = Kernels.conv2d(x, weight: weight, bias: bias, window: conv.window, group: conv.group)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
      }
      let seconds = Statistics.median(times)
      let key = kind(conv, weight: weight.shape, channels: x.shape[1])
      byKind[key, default: (0, 0, 0)].seconds += seconds
      byKind[key, default: (0, 0, 0)].macs += graph.multiplyAccumulates(node)
      byKind[key, default: (0, 0, 0)].count += 1
      total += seconds
    }
    let sorted = byKind.sorted { $0.value.seconds > $1.value.seconds }
    if json {
      try printJSON(["total_seconds": total, "kinds": sorted.map {
        ["kind": $0.key, "seconds": $0.value.seconds, "macs": $0.value.macs, "count": $0.value.count] as [String: Any]
      }])
      return
    }
    let table = TextTable(columns: ["kind", "convs", "ms", "%", "MACs", "GFLOP/s"], rightAligned: [1, 2, 3, 4, 5])
    for (key, value) in sorted {
      table.add([key, String(value.count), String(format: "%.2f", value.seconds * 1e3),
                 String(format: "%.1f", 100 * value.seconds / max(total, 1e-12)), formatCount(value.macs),
                 String(format: "%.1f", 2 * Double(value.macs) / max(value.seconds, 1e-12) / 1e9)])
    }
    table.add(["total", String(convNodes.count), String(format: "%.2f", total * 1e3), "100", "", ""])
    print(table.render(separatorBeforeLast: true))
  }
}
