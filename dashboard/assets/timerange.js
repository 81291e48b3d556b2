/* Synced zoom of the time-series graphs of a page (dashboard/timerange.py).

   A clientside callback on every graph's relayoutData. Dragging on the x-axis of one graph
   zooms the others to the same range at once and returns the range store's new data: the
   custom range (absolute UTC times), keeping the choice from before the zoom. A double-click
   (the graphs' doubleClick is "autosize") returns that earlier choice, with the reset counter
   moved on so the server redraws every graph at the picker's range.
   Served as a file, so the Content-Security-Policy needs no hash for it. */

(function () {
    "use strict";

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        timerange: {
            zoom: function () {
                const nothing = window.dash_clientside.no_update;
                const context = window.dash_clientside.callback_context;
                const args = Array.prototype.slice.call(arguments);
                const state = args.pop();
                const graphs = context.inputs_list.map(function (input) { return input.id; });
                if (!state || !context.triggered.length) {
                    return nothing;
                }
                const propId = context.triggered[0].prop_id;
                const source = propId.slice(0, propId.lastIndexOf("."));
                const event = args[graphs.indexOf(source)];
                const asked = xRange(event);
                if (asked === null) {
                    return nothing;
                }
                const own = window.dash_clientside.timerange;
                if (asked === "auto") {
                    own.applied = null;
                    const before = state.before || {from: state.from, to: state.to};
                    return Object.assign({}, state, {
                        from: before.from, to: before.to, before: null, resets: (state.resets || 0) + 1
                    });
                }
                const start = utcMillis(asked[0]);
                const end = utcMillis(asked[1]);
                if (isNaN(start) || isNaN(end) || end <= start) {
                    return nothing;
                }
                if (own.applied && Math.abs(own.applied[0] - start) < 1000
                        && Math.abs(own.applied[1] - end) < 1000) {
                    return nothing;  /* the echo of a graph this function zoomed */
                }
                own.applied = [start, end];
                graphs.forEach(function (id) {
                    if (id !== source) {
                        zoomGraph(id, asked);
                    }
                });
                return Object.assign({}, state, {
                    from: isoSeconds(start),
                    to: isoSeconds(end),
                    before: state.before || {from: state.from, to: state.to}
                });
            },
            applied: null
        }
    });

    /* The x range a relayout event asks for: [start, end] as plotly writes dates, "auto" for an
       autorange (double-click), null when the event is about something else. */
    function xRange(event) {
        if (!event) {
            return null;
        }
        const keys = Object.keys(event);
        for (const key of keys) {
            const axis = key.match(/^xaxis\d*\.range\[0\]$/);
            if (axis) {
                const name = key.slice(0, key.indexOf("."));
                return [event[key], event[name + ".range[1]"]];
            }
            if (/^xaxis\d*\.range$/.test(key) && Array.isArray(event[key])) {
                return event[key];
            }
        }
        if (keys.some(function (key) { return /^xaxis\d*\.autorange$/.test(key) && event[key]; })) {
            return "auto";
        }
        return null;
    }

    /* Plotly's naive date text ("2025-06-01 05:12:33.45", read as UTC) → epoch milliseconds. */
    function utcMillis(text) {
        const iso = String(text).trim().replace(" ", "T");
        return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : iso + "Z");
    }

    function isoSeconds(millis) {
        return new Date(millis).toISOString().replace(/\.\d+Z$/, "Z");
    }

    /* Sets every x-axis of the graph with Dash id `id` to `range`. */
    function zoomGraph(id, range) {
        const holder = document.getElementById(id);
        const plot = holder && holder.querySelector(".js-plotly-plot");
        if (!plot || !plot.layout) {
            return;
        }
        const update = {};
        Object.keys(plot.layout).forEach(function (key) {
            if (/^xaxis\d*$/.test(key)) {
                update[key + ".range"] = [range[0], range[1]];
                update[key + ".autorange"] = false;
            }
        });
        window.Plotly.relayout(plot, update);
    }
})();
