import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import ReluFlow

/// The SVG figures: well-formed XML, the expected series, each with something drawn in it, and
/// (when `rsvg-convert` is installed, as `.ci/setup` does) a rendering with more ink than the
/// same page without its series.
final class PlotTests: XCTestCase {
    /// Series of an SVG: `<g class="series" data-name=…>` with the number of drawing elements in it.
    final class SeriesCounter: NSObject, XMLParserDelegate {
        var series: [(name: String, elements: Int)] = []
        private var depthInSeries = 0

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            if name == "g", attributes["class"] == "series" {
                series.append((attributes["data-name"] ?? "", 0))
                depthInSeries = 1
            } else if depthInSeries > 0 {
                depthInSeries += 1
                if ["path", "circle", "rect", "line"].contains(name) { series[series.count - 1].elements += 1 }
            }
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if depthInSeries > 0 { depthInSeries -= 1 }
        }
    }

    func parse(_ data: Data, _ name: String) -> [(name: String, elements: Int)] {
        let parser = XMLParser(data: data)
        let counter = SeriesCounter()
        parser.delegate = counter
        XCTAssertTrue(parser.parse(), "\(name) is not well-formed XML: \(String(describing: parser.parserError))")
        return counter.series
    }

    func run(_ example: String, T: Double) throws -> FlowSolution {
        var problem = try exampleProblem(example, T: T)
        problem.options.sampleCount = 200
        let solution = solve(problem)
        XCTAssertEqual(solution.status, .completed)
        return solution
    }

    func testOneDimensionalFigures() throws {
        let solution = try run("small-init", T: 1000)
        let plateaus = try PlateauReport.plateaus(solution)
        XCTAssertEqual(plateaus.count, 3)
        let files = Dictionary(uniqueKeysWithValues: try RunFigures.files(for: solution, plateaus: plateaus))
        XCTAssertEqual(Set(files.keys), ["loss.svg", "patterns.svg", "knots.svg", "fit.svg"])
        let n = solution.problem.network.width
        let loss = parse(files["loss.svg"]!, "loss.svg")
        let plateauName = "plateau (numbered)"
        XCTAssertEqual(loss.map(\.name).filter { !$0.hasPrefix("rounding level") },
                       [plateauName, "pattern floor L*_P", "loss", "event (pattern change)", plateauName, "L − L(T)"])
        XCTAssertTrue(loss.contains { $0.name == "rounding level" })
        XCTAssertTrue(texts(files["loss.svg"]!).joined(separator: " ").contains("rounding level 64 ε L(T) ="), "the level's value in the caption")
        XCTAssertEqual(loss[0].elements, 3, "one band per plateau")
        // One tick per drawable event time (t > 0 on the log axis, grazes left out), at most one per quarter pixel.
        let tickTimes = Set(solution.events.filter { $0.kind != .graze && $0.t > 0 }.map(\.t))
        XCTAssertLessThanOrEqual(loss[3].elements, tickTimes.count)
        XCTAssertGreaterThan(loss[3].elements, tickTimes.count / 2)
        let patterns = parse(files["patterns.svg"]!, "patterns.svg")
        XCTAssertEqual(patterns.filter { $0.name.hasPrefix("neuron ") }.count, n)
        XCTAssertTrue(patterns.contains { $0.name.hasPrefix("sliding pairs / m") }, "small-init slides")
        XCTAssertEqual(patterns.first { $0.name == "lanes" }?.elements, n, "one shaded lane per neuron (its 0…1 scale)")
        let knots = parse(files["knots.svg"]!, "knots.svg")
        XCTAssertEqual(knots.count, 1 + n)
        XCTAssertTrue(knots.contains { $0.name == "data points xⱼ" }, "subscripts as Unicode in data-name")
        XCTAssertEqual(knots[0].elements, Set(solution.problem.data.x).count, "one line per data point")
        let fit = parse(files["fit.svg"]!, "fit.svg")
        XCTAssertTrue(fit.contains { $0.name == "data (xⱼ, yⱼ)" && $0.elements == solution.problem.data.count })
        XCTAssertTrue(fit.contains { $0.name == "network N(x)" && $0.elements == 1 })
        for set in [loss, patterns, knots, fit] {
            for s in set { XCTAssertGreaterThan(s.elements, 0, "series '\(s.name)' is empty") }
        }
        for (name, data) in files {
            XCTAssertFalse(String(decoding: data, as: UTF8.self).contains("nan"), "\(name) has a non-finite coordinate")
        }
    }

    func testKnotLinesInTwoDimensions() throws {
        let solution = try run("two-d", T: 20)
        let files = Dictionary(uniqueKeysWithValues: try RunFigures.files(for: solution, plateaus: [], times: [0, 5, 20]))
        XCTAssertEqual(Set(files.keys), ["loss.svg", "patterns.svg", "knot-lines.svg"])
        let series = parse(files["knot-lines.svg"]!, "knot-lines.svg")
        let n = solution.problem.network.width
        XCTAssertEqual(series.count, 3 * (1 + n), "three panels of data + one line per neuron")
        XCTAssertEqual(series.filter { $0.name == "data xⱼ" }.map(\.elements), [25, 25, 25])
        // A knot line that crosses the data box is a segment plus its active-side tick (2 paths).
        XCTAssertTrue(series.contains { $0.name.hasPrefix("neuron") && $0.elements == 2 })
    }

    func testClippedLine() {
        // x + y = 0 through the box [−1, 1]²: from (−1, 1) to (1, −1).
        let segment = RunFigures.clippedLine(1, 1, 0, (-1, 1, -1, 1))
        XCTAssertNotNil(segment)
        if let (a, b) = segment {
            XCTAssertEqual(Set([a.0, b.0]), [-1, 1])
            XCTAssertEqual(a.0 + a.1, 0, accuracy: 1e-15)
            XCTAssertEqual(b.0 + b.1, 0, accuracy: 1e-15)
        }
        XCTAssertNil(RunFigures.clippedLine(1, 0, -5, (-1, 1, -1, 1)), "x = 5 misses the box")
    }

    func testLogTicksAndLabels() {
        let scale = Scale(.log, lo: 1e-3, hi: 1e4, pixels: (0, 100))
        let ticks = scale.ticks()
        XCTAssertEqual(ticks.first?.label, "10⁻³")
        XCTAssertEqual(ticks.last?.label, "10⁴")
        XCTAssertEqual(scale(1e-3), 0, accuracy: 1e-12)
        XCTAssertEqual(scale(1e4), 100, accuracy: 1e-12)
        XCTAssertTrue(scale(0).isNaN)
        let linear = Scale(.linear, lo: -1.2, hi: 1.2, pixels: (0, 1)).ticks()
        XCTAssertEqual(linear.map(\.label), ["−1.0", "−0.5", "0", "0.5", "1.0"], "true minus signs (U+2212)")
        // Values equal to one ulp (a constant fit): the axis is widened, so the ticks are finite and few.
        let flat = Scale(.linear, covering: [0.3, 0.30000000000000004], pixels: (0, 100)).ticks()
        XCTAssertTrue((2...12).contains(flat.count), "\(flat.count) ticks")
    }

    /// The drawn points (pixels) of a series' paths, by regular expression on the SVG text.
    func pathPoints(_ svg: String, series name: String) -> [(Double, Double)] {
        guard let start = svg.range(of: "<g class=\"series\" data-name=\"\(name)\">"),
              let end = svg.range(of: "</g>", range: start.upperBound..<svg.endIndex) else { return [] }
        let group = String(svg[start.upperBound..<end.lowerBound])
        let regex = try! NSRegularExpression(pattern: #"[ML](-?[0-9.]+),(-?[0-9.]+)"#)
        return regex.matches(in: group, range: NSRange(group.startIndex..., in: group)).map { m in
            (Double((group as NSString).substring(with: m.range(at: 1)))!, Double((group as NSString).substring(with: m.range(at: 2)))!)
        }
    }

    /// The text content of the `<text>` elements (tspans removed), and the raw SVG.
    func texts(_ data: Data) -> [String] {
        let svg = String(decoding: data, as: UTF8.self)
        let regex = try! NSRegularExpression(pattern: #"<text[^>]*>(.*?)</text>"#)
        return regex.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map {
            (svg as NSString).substring(with: $0.range(at: 1)).replacingOccurrences(of: #"<[^>]*>"#, with: "", options: .regularExpression)
        }
    }

    /// loss.svg: the excess panel draws nothing below its rounding level; a floor hidden under the
    /// loss curve has no legend entry; squeezed plateaus get a zoom panel; events at t = 0 are noted.
    func testLossFigureDefects() throws {
        // plateaus: its excess falls to rounding noise (≈ 1e-18) after t ≈ 1e4; four plateaus in the
        // bottom few per cent of the upper panel.
        let plateauRun = try run("plateaus", T: 1e5)
        let plateaus = try PlateauReport.plateaus(plateauRun)
        XCTAssertEqual(plateaus.count, 4)
        let svg = String(decoding: Data(RunFigures.loss(plateauRun, plateaus: plateaus).utf8), as: UTF8.self)
        let names = parse(Data(svg.utf8), "loss.svg").map(\.name)
        let roundingName = try XCTUnwrap(names.first { $0.hasPrefix("rounding level") })
        let roundingY = try XCTUnwrap(pathPoints(svg, series: roundingName).first?.1)
        let excess = pathPoints(svg, series: "L − L(T)")
        XCTAssertGreaterThan(excess.count, 10)
        XCTAssertLessThanOrEqual(excess.map(\.1).max()!, roundingY, "a point of L − L(T) below the rounding level")
        XCTAssertTrue(svg.contains("Zoom on the plateaus"), "the plateaus get a zoomed panel")
        XCTAssertEqual(names.filter { $0 == "loss" }.count, 2)
        for k in 1...4 { XCTAssertTrue(svg.contains(">\(k)</text>"), "plateau \(k) numbered") }
        // Adjacent bands alternate in shade.
        XCTAssertTrue(svg.contains("fill-opacity=\"0.090\"") && svg.contains("fill-opacity=\"0.171\""))

        // sine: its one plateau's floor is 0.15% under the loss, hidden by the curve: no legend entry.
        let sine = try run("sine", T: 1e4)
        let sinePlateaus = try PlateauReport.plateaus(sine)
        XCTAssertEqual(sinePlateaus.count, 1)
        let sineSVG = RunFigures.loss(sine, plateaus: sinePlateaus)
        XCTAssertFalse(sineSVG.contains("pattern floor"), "floor legend shown although the floor hides under the loss")

        // abs: events at t = 0 are noted in the caption.
        let abs = try run("abs", T: 1e4)
        let atZero = abs.events.filter { $0.kind != .graze && $0.t == 0 }.count
        XCTAssertGreaterThan(atZero, 0)
        let absSVG = RunFigures.loss(abs, plateaus: try PlateauReport.plateaus(abs))
        let absTexts = texts(Data(absSVG.utf8)).joined(separator: " ")
        XCTAssertTrue(absTexts.contains("\(atZero) events at t = 0"), absTexts)
        // abs interpolates: its loss falls to rounding noise (about 3e-29 here), and is drawn only
        // down to its rounding level ½(64 ε max|y_j|)² = 1e-28, which is marked.
        XCTAssertLessThan(abs.finalLoss, 1e-28)
        let absNames = parse(Data(absSVG.utf8), "loss.svg").map(\.name)
        let level = try XCTUnwrap(absNames.first { $0 == "rounding level of L" })
        XCTAssertTrue(absTexts.contains("rounding level ½(64 ε max|y"), absTexts)
        let levelY = try XCTUnwrap(pathPoints(absSVG, series: level).first?.1)
        let lossPoints = pathPoints(absSVG, series: "loss")
        XCTAssertGreaterThan(lossPoints.count, 10)
        XCTAssertLessThanOrEqual(lossPoints.map(\.1).max()!, levelY + 0.01, "a point of L below its rounding level")
    }

    func testScaleExtendsToTickBelowData() {
        // Data from 1.7e-4 to 0.3: the decade ticks 10⁻³ … 10⁻¹ leave 1.7e-4 below the last one.
        let scale = Scale(.log, covering: [1.7e-4, 0.3], pixels: (0, 100)).extendedDown(toTickBelow: 1.7e-4)
        XCTAssertEqual(scale.ticks().first?.value ?? 1, 1e-4, accuracy: 1e-18)
        XCTAssertLessThanOrEqual(scale.lo, 1e-4)
        let linear = Scale(.linear, lo: 0.13, hi: 1, pixels: (0, 100)).extendedDown(toTickBelow: 0.13)
        XCTAssertLessThanOrEqual(linear.ticks().first!.value, 0.13)
    }

    /// Typography and notes: no underscores, SPEC references or ASCII hyphen-minus as minus in figure
    /// text; every lane of patterns.svg labelled; wide runs say which neurons are left out and label
    /// their lines directly; times in titles rounded.
    func testFigureTextAndWideRuns() throws {
        var config = try Example.named("two-d").config
        config.flow.T = 1
        config.flow.samples = SampleConfig(spacing: "log", count: 20)
        config.network.width = 72
        config.network.W = nil
        config.network.b = nil
        config.network.c = nil
        var problem = try config.resolve().problem
        problem.options.sampleCount = 20
        let solution = solve(problem)
        // A sample time with many digits (the log grid's).
        let middle = try XCTUnwrap(solution.samples.map(\.t).first { $0 > 0.1 && String(format: "%g", $0).count > 6 })
        let files = Dictionary(uniqueKeysWithValues: try RunFigures.files(for: solution, plateaus: [], times: [0, middle, 1]))
        for (name, data) in files {
            let text = texts(data)
            for line in text {
                XCTAssertFalse(line.contains("_"), "\(name): underscore in '\(line)'")
                XCTAssertFalse(line.contains("SPEC"), "\(name): '\(line)'")
                XCTAssertNil(line.range(of: #"(^|[ (])-[0-9]"#, options: .regularExpression), "\(name): hyphen as minus in '\(line)'")
                XCTAssertNil(line.range(of: #"t = [0-9]*\.[0-9]{5,}"#, options: .regularExpression), "\(name): unrounded time in '\(line)'")
            }
            if name != "loss.svg" {
                XCTAssertTrue(text.joined(separator: " ").contains("neurons 64–71 of 72 are left out"), "\(name) does not say what is left out")
            }
        }
        let knotLines = texts(files["knot-lines.svg"]!)
        XCTAssertTrue(knotLines.contains("t = " + String(format: "%.4g", middle)), "\(middle)")
        let lineLabels = Set(knotLines.filter { Int($0) != nil })
        XCTAssertGreaterThanOrEqual(lineLabels.count, 20, "knot lines labelled with their neuron: \(lineLabels.sorted())")
        XCTAssertFalse(knotLines.contains("neuron 9"), "no legend of 40 neurons in 7 colours")
        let patterns = texts(files["patterns.svg"]!)
        // 64 lanes of 10 px (the figure fits a page at one column's width): too narrow for a 0 and
        // a 1 each; the caption gives their scale, and every second lane carries its neuron's number.
        XCTAssertEqual(patterns.filter { $0 == "0" }.count, 1, "neuron 0's name only")
        XCTAssertEqual(Set(patterns.compactMap { Int($0) }), Set(stride(from: 0, to: RunFigures.maxNeurons, by: 2)))
        XCTAssertTrue(patterns.joined(separator: " ").contains("at its bottom to 1 (all m points) at its top; every second lane is numbered"))
    }

    /// knots.svg with many neurons: each path labelled at its end instead of a legend of repeated colours.
    func testManyKnotPathsAreLabelledDirectly() throws {
        var config = try Example.named("sine").config
        config.flow.T = 1
        config.network.width = 20
        config.network.W = nil
        config.network.b = nil
        config.network.c = nil
        var problem = try config.resolve().problem
        problem.options.sampleCount = 20
        let solution = solve(problem)
        let svg = RunFigures.knots(solution)
        let endLabels = try XCTUnwrap(svg.range(of: "<g class=\"end-labels\">"))
        let group = svg[endLabels.upperBound...].prefix { $0 != "\n" }
        let labelled = Set(texts(Data(group.utf8)))
        XCTAssertGreaterThanOrEqual(labelled.count, 15, "\(labelled)")
        XCTAssertFalse(svg.contains(">neuron 9<"), "no legend of 20 neurons in 7 colours")
    }

    /// Rendering catches drawings that are valid XML but show nothing: the PNG of the real figure
    /// must carry clearly more ink (compressed bytes) than the same page with its series removed.
    func testRenderedFigureIsNotEmpty() throws {
        let renderer = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let renderer else { throw XCTSkip("rsvg-convert is not installed (.ci/setup installs librsvg2-bin)") }
        let solution = try run("sine", T: 100)
        let files = Dictionary(uniqueKeysWithValues: try RunFigures.files(for: solution, plateaus: try PlateauReport.plateaus(solution)))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["knots.svg", "fit.svg"] {
            let full = String(decoding: files[name]!, as: UTF8.self)
            let stripped = full.replacingOccurrences(of: #"<g class="series"[^>]*>.*?</g>"#, with: "", options: .regularExpression)
            XCTAssertFalse(stripped.contains("class=\"series\""))
            var sizes: [Int] = []
            for (tag, text) in [("full", full), ("empty", stripped)] {
                let svg = dir.appendingPathComponent("\(tag)-\(name)"), png = svg.deletingPathExtension().appendingPathExtension("png")
                try Data(text.utf8).write(to: svg)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: renderer)
                process.arguments = ["-o", png.path, svg.path]
                try process.run()
                process.waitUntilExit()
                XCTAssertEqual(process.terminationStatus, 0, "rsvg-convert failed on \(name)")
                sizes.append(try Data(contentsOf: png).count)
            }
            // (1.15: on a column-wide figure the axes and text are a larger share of the page;
            // measured 1.23 for fit.svg of this run. FigureRenderTests checks each series' own pixels.)
            XCTAssertGreaterThan(Double(sizes[0]), 1.15 * Double(sizes[1]), "\(name): rendered \(sizes[0]) bytes vs \(sizes[1]) without series")
        }
    }

    func testPlotCommand() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertEqual(try runReluflow(["simulate", "--example", "two-d", "--T", "10", "--quiet", "--out", "run"], in: dir).status, 0)
        let result = try runReluflow(["plot", "run", "--times", "0", "10"], in: dir)
        XCTAssertEqual(result.status, 0, result.stderr)
        for name in ["loss.svg", "patterns.svg", "knot-lines.svg"] {
            let data = try Data(contentsOf: dir.appendingPathComponent("run/\(name)"))
            XCTAssertFalse(parse(data, name).isEmpty)
        }
        let twoPanels = parse(try Data(contentsOf: dir.appendingPathComponent("run/knot-lines.svg")), "knot-lines.svg")
        XCTAssertEqual(twoPanels.filter { $0.name == "data xⱼ" }.count, 2, "--times 0 10 gives two panels")
        let missing = try runReluflow(["plot", "nowhere"], in: dir)
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("DIR"), missing.stderr)
        let notRun = try runReluflow(["plot", "."], in: dir)
        XCTAssertEqual(notRun.status, 2, notRun.stderr)
        let badTime = try runReluflow(["plot", "run", "--times", "-1"], in: dir)
        XCTAssertEqual(badTime.status, 2)
        XCTAssertTrue(badTime.stderr.contains("--times"), badTime.stderr)
        // Commas too, as the other list options take them (a new user tried `--times 1,10,100`).
        let commas = try runReluflow(["plot", "run", "--times", "0,10", "--out", "commas"], in: dir)
        XCTAssertEqual(commas.status, 0, commas.stderr)
        let commaPanels = parse(try Data(contentsOf: dir.appendingPathComponent("commas/knot-lines.svg")), "knot-lines.svg")
        XCTAssertEqual(commaPanels.filter { $0.name == "data xⱼ" }.count, 2, "--times 0,10 gives two panels")
        let notANumber = try runReluflow(["plot", "run", "--times", "0,ten"], in: dir)
        XCTAssertEqual(notANumber.status, 2)
        XCTAssertTrue(notANumber.stderr.contains("--times") && notANumber.stderr.contains("'ten'"), notANumber.stderr)
    }
}
