import CRender
import Foundation

/// The file formats of the figures: the SVG the toolkit draws, and PNG and PDF rendered from it.
public enum FigureFormat: String, CaseIterable, Sendable {
    case svg, png, pdf

    /// A comma-separated list ("svg,png,pdf"), each format once; `field` names the option in errors.
    public static func list(_ text: String, field: String = "--format") throws -> [FigureFormat] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        var out: [FigureFormat] = []
        for name in names {
            guard let format = FigureFormat(rawValue: name) else {
                throw InputError(field, "unknown format '\(name)' (known: svg, png, pdf; comma-separated)")
            }
            guard !out.contains(format) else { throw InputError(field, "'\(name)' is given twice") }
            out.append(format)
        }
        return out
    }
}

/// SVG rendered to PNG and PDF by librsvg through cairo's C API (no external program; both loaded
/// with dlopen when the first figure is rendered, `CRender`): librsvg
/// parses the SVG and draws it on a cairo surface, an image surface written as PNG or a PDF
/// surface (vector, text as text). Every GError and cairo status is checked; a failure is a
/// `FileError` naming the file and the library's message (exit 3, "cannot render …").
///
/// Sizes: the SVG's width and height are in CSS pixels (96 per inch). The PDF page has the figure's
/// physical size (1 px = 0.75 pt); the PNG has `pngScale` pixels per SVG pixel (192 dpi at that size).
public enum FigureRenderer {
    /// PNG pixels per SVG pixel: 2 (sharp on high-density screens and in print at the figure's size).
    public static let pngScale = 2.0

    /// The figures of `svgFiles` (names ending in `.svg`) in `formats`: each `x.svg` as itself, `x.png`
    /// and/or `x.pdf`, in the order of the files, then of the formats.
    public static func files(_ svgFiles: [(String, Data)], formats: [FigureFormat]) throws -> [(String, Data)] {
        var out: [(String, Data)] = []
        for (name, svg) in svgFiles {
            let stem = name.hasSuffix(".svg") ? String(name.dropLast(4)) : name
            for format in formats {
                switch format {
                case .svg: out.append((name, svg))
                case .png: out.append((stem + ".png", try png(svg, name: stem + ".png")))
                case .pdf: out.append((stem + ".pdf", try pdf(svg, name: stem + ".pdf")))
                }
            }
        }
        return out
    }

    /// The SVG as a PNG (ARGB, white page as the SVG draws it), `scale` pixels per SVG pixel.
    public static func png(_ svg: Data, scale: Double = pngScale, name: String = "figure.png") throws -> Data {
        try withHandle(svg, name: name) { handle, width, height in
            let w = Int32((width * scale).rounded(.up)), h = Int32((height * scale).rounded(.up))
            guard w > 0, h > 0, w <= 32767, h <= 32767 else {
                throw FileError(path: name, action: "render", reason: "cairo: image size \(w) × \(h) pixels is out of range")
            }
            guard let surface = api.cairo_image_surface_create!(CAIRO_FORMAT_ARGB32, w, h) else {
                throw FileError(path: name, action: "render", reason: "cairo_image_surface_create returned no surface")
            }
            defer { api.cairo_surface_destroy!(surface) }
            try check(api.cairo_surface_status!(surface), "cairo_image_surface_create", name)
            try draw(handle, on: surface, width: width, height: height, scale: scale, name: name)
            let sink = Sink()
            let status = api.cairo_surface_write_to_png_stream!(surface, { closure, bytes, length in
                guard let closure, let bytes else { return CAIRO_STATUS_WRITE_ERROR }
                Unmanaged<Sink>.fromOpaque(closure).takeUnretainedValue().data.append(bytes, count: Int(length))
                return CAIRO_STATUS_SUCCESS
            }, Unmanaged.passUnretained(sink).toOpaque())
            try check(status, "cairo_surface_write_to_png_stream", name)
            return sink.data
        }
    }

    /// The SVG as a one-page PDF of the figure's size (0.75 pt per SVG pixel).
    public static func pdf(_ svg: Data, name: String = "figure.pdf") throws -> Data {
        try withHandle(svg, name: name) { handle, width, height in
            let sink = Sink()
            let closure = Unmanaged.passUnretained(sink).toOpaque()
            guard let surface = api.cairo_pdf_surface_create_for_stream!({ closure, bytes, length in
                guard let closure, let bytes else { return CAIRO_STATUS_WRITE_ERROR }
                Unmanaged<Sink>.fromOpaque(closure).takeUnretainedValue().data.append(bytes, count: Int(length))
                return CAIRO_STATUS_SUCCESS
            }, closure, 0.75 * width, 0.75 * height) else {
                throw FileError(path: name, action: "render", reason: "cairo_pdf_surface_create_for_stream returned no surface")
            }
            defer { api.cairo_surface_destroy!(surface) }
            try check(api.cairo_surface_status!(surface), "cairo_pdf_surface_create_for_stream", name)
            try draw(handle, on: surface, width: width, height: height, scale: 0.75, name: name)
            // Finishing writes the rest of the document into the sink; its status says whether it did.
            api.cairo_surface_finish!(surface)
            try check(api.cairo_surface_status!(surface), "cairo_surface_finish (PDF)", name)
            return withExtendedLifetime(sink) { sink.data }
        }
    }

    /// The figure's pixels at `scale` (premultiplied ARGB, row by row), for tests that look at what
    /// a figure shows: which pixels a series changes, whether text stays inside the page.
    static func raster(_ svg: Data, scale: Double = 1, name: String = "figure") throws -> (width: Int, height: Int, pixels: [UInt32]) {
        try withHandle(svg, name: name) { handle, width, height in
            let w = Int32((width * scale).rounded(.up)), h = Int32((height * scale).rounded(.up))
            guard let surface = api.cairo_image_surface_create!(CAIRO_FORMAT_ARGB32, w, h) else {
                throw FileError(path: name, action: "render", reason: "cairo_image_surface_create returned no surface")
            }
            defer { api.cairo_surface_destroy!(surface) }
            try check(api.cairo_surface_status!(surface), "cairo_image_surface_create", name)
            try draw(handle, on: surface, width: width, height: height, scale: scale, name: name)
            guard let data = api.cairo_image_surface_get_data!(surface) else {
                throw FileError(path: name, action: "render", reason: "cairo_image_surface_get_data returned no data")
            }
            let stride = Int(api.cairo_image_surface_get_stride!(surface))
            var pixels = [UInt32](repeating: 0, count: Int(w) * Int(h))
            pixels.withUnsafeMutableBytes { out in
                for row in 0..<Int(h) { memcpy(out.baseAddress! + row * Int(w) * 4, data + row * stride, Int(w) * 4) }
            }
            return (Int(w), Int(h), pixels)
        }
    }

    /// The figure's size in SVG pixels and the box (in SVG pixels, as drawn, rotations included)
    /// of every `<text>` element, measured by librsvg on its laid-out glyphs, with the text's content.
    static func textBoxes(_ svg: String, name: String = "figure") throws
        -> (width: Double, height: Double, texts: [(text: String, x: Double, y: Double, width: Double, height: Double)]) {
        // Each text element gets an id to ask librsvg for its geometry.
        var tagged = "", contents: [String] = []
        var rest = Substring(svg)
        while let open = rest.range(of: "<text ") {
            tagged += rest[..<open.lowerBound] + "<text id=\"rf-text-\(contents.count)\" "
            rest = rest[open.upperBound...]
            let close = rest.range(of: "</text>")!
            let inner = rest[..<close.lowerBound]
            let body = inner[inner.index(after: inner.firstIndex(of: ">")!)...]
            contents.append(String(body).replacingOccurrences(of: "<[^>]*>", with: "", options: .regularExpression))
        }
        tagged += rest
        return try withHandle(Data(tagged.utf8), name: name) { handle, width, height in
            var viewport = RsvgRectangle(x: 0, y: 0, width: width, height: height)
            var boxes: [(String, Double, Double, Double, Double)] = []
            for (k, text) in contents.enumerated() {
                var ink = RsvgRectangle(), logical = RsvgRectangle()
                var error: UnsafeMutablePointer<GError>? = nil
                let ok = api.rsvg_handle_get_geometry_for_layer!(handle, "#rf-text-\(k)", &viewport, &ink, &logical, &error)
                if let message = consume(&error) {
                    throw FileError(path: name, action: "measure", reason: "librsvg rsvg_handle_get_geometry_for_layer: \(message)")
                }
                guard ok != 0 else { throw FileError(path: name, action: "measure", reason: "librsvg: no geometry for text \(k)") }
                boxes.append((text, logical.x, logical.y, logical.width, logical.height))
            }
            return (width, height, boxes)
        }
    }

    /// librsvg's and cairo's functions (CRender), loaded by `withHandle` before any is called.
    private static var api: rf_render_api { rf_render_load(nil, 0)!.pointee }

    /// Collects the bytes cairo writes.
    private final class Sink { var data = Data() }

    /// An RsvgHandle for the SVG and its intrinsic size in pixels, released after `body`.
    private static func withHandle<T>(_ svg: Data, name: String, _ body: (OpaquePointer, Double, Double) throws -> T) throws -> T {
        var reason = [CChar](repeating: 0, count: 512)
        guard rf_render_load(&reason, reason.count) != nil else {
            throw FileError(path: name, action: "render", reason: String(cString: reason))
        }
        var error: UnsafeMutablePointer<GError>? = nil
        let handle = svg.withUnsafeBytes { raw -> OpaquePointer? in
            api.rsvg_handle_new_from_data!(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &error)
        }
        if let message = consume(&error) {
            if let handle { api.g_object_unref!(UnsafeMutableRawPointer(handle)) }
            throw FileError(path: name, action: "render", reason: "librsvg rsvg_handle_new_from_data: \(message)")
        }
        guard let handle else { throw FileError(path: name, action: "render", reason: "librsvg rsvg_handle_new_from_data returned no handle") }
        defer { api.g_object_unref!(UnsafeMutableRawPointer(handle)) }
        var width = 0.0, height = 0.0
        // The figures give width and height in pixels; without them (or with percentages) the size is unknown.
        guard api.rsvg_handle_get_intrinsic_size_in_pixels!(handle, &width, &height) != 0, width > 0, height > 0,
              width.isFinite, height.isFinite else {
            throw FileError(path: name, action: "render", reason: "librsvg: the SVG has no width and height in absolute units")
        }
        return try body(handle, width, height)
    }

    /// Draws the whole document on `surface`, scaled by `scale`; checks librsvg's GError and the
    /// cairo context's status.
    private static func draw(_ handle: OpaquePointer, on surface: OpaquePointer, width: Double, height: Double, scale: Double, name: String) throws {
        guard let cr = api.cairo_create!(surface) else { throw FileError(path: name, action: "render", reason: "cairo_create returned no context") }
        defer { api.cairo_destroy!(cr) }
        try check(api.cairo_status!(cr), "cairo_create", name)
        api.cairo_scale!(cr, scale, scale)
        var viewport = RsvgRectangle(x: 0, y: 0, width: width, height: height)
        var error: UnsafeMutablePointer<GError>? = nil
        let ok = api.rsvg_handle_render_document!(handle, cr, &viewport, &error)
        if let message = consume(&error) {
            throw FileError(path: name, action: "render", reason: "librsvg rsvg_handle_render_document: \(message)")
        }
        guard ok != 0 else { throw FileError(path: name, action: "render", reason: "librsvg rsvg_handle_render_document failed without a message") }
        try check(api.cairo_status!(cr), "cairo drawing", name)
        api.cairo_surface_flush!(surface)
        try check(api.cairo_surface_status!(surface), "cairo_surface_flush", name)
    }

    /// The message of a GError (freed), or nil when there is none.
    private static func consume(_ error: inout UnsafeMutablePointer<GError>?) -> String? {
        guard let e = error else { return nil }
        defer { api.g_error_free!(e); error = nil }
        return e.pointee.message.map { String(cString: $0) } ?? "error \(e.pointee.code) without a message"
    }

    private static func check(_ status: cairo_status_t, _ routine: String, _ name: String) throws {
        guard status != CAIRO_STATUS_SUCCESS else { return }
        throw FileError(path: name, action: "render", reason: "\(routine): \(api.cairo_status_to_string!(status).map { String(cString: $0) } ?? "cairo status \(status)")")
    }
}
