'use strict';

/*! *****************************************************************************
Bundled as rollup's cjs output looks (written for betterform's tests).
***************************************************************************** */

function __awaiter(thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
}

var forms = function (value) {
    var text = String(value);
    return [
        "plain=" + text,
        "base64=" + Buffer.from(text, "utf8").toString("base64"),
        "base64url=" + Buffer.from(text, "utf8").toString("base64url"),
        "url=" + encodeURIComponent(text),
        "json=" + JSON.stringify({ v: text }),
    ];
};

var executor = function (_a) {
    var inputs = _a.inputs, context = _a.context;
    return __awaiter(void 0, void 0, void 0, function* () {
        var shown, i;
        {
            context.print("message: " + inputs.message);
            shown = inputs.apiKey === undefined ? process.env.ECHO_SECRET : inputs.apiKey;
            if (shown !== undefined) {
                var lines = forms(shown);
                for (i = 0; i < lines.length; i++) context.print(lines[i]);
                context.printVerbose("verbose " + shown);
                context.printWarning("warning " + shown);
                context.updateProgress(50, "progress " + shown);
                context.setOctopusVariable("Issued", "issued:" + shown, true);
                context.setOctopusVariable("Plain", "plain:" + shown);
                // A secret of the step's own making: known later only as a sensitive output.
                context.setOctopusVariable("Generated", shown.split("").reverse().join(""), true);
                process.stderr.write("stderr " + shown + "\n");
            }
            if (inputs.apiKey !== undefined && process.env.MASK_ONLY !== undefined) {
                // A value the step asks to mask and keeps nowhere.
                var encoded = Buffer.from(process.env.MASK_ONLY, "utf8").toString("base64");
                context.print("##octopus[mask value='" + encoded + "']");
            }
            if (inputs.apiKey === undefined && process.env.MASK_ONLY !== undefined) {
                var masked = forms(process.env.MASK_ONLY);
                for (i = 0; i < masked.length; i++) context.print("masked " + masked[i]);
            }
            if (inputs.apiKey === undefined && process.env.ECHO_GENERATED !== undefined) {
                var generated = forms(process.env.ECHO_GENERATED);
                for (i = 0; i < generated.length; i++) context.print("generated " + generated[i]);
            }
            if (inputs.mode.kind === "fail") {
                throw new Error("refused " + shown);
            }
        }
    });
};

module.exports = executor;
//# sourceMappingURL=executor.js.map
