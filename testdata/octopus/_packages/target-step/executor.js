'use strict';

/*! Bundled as rollup's cjs output looks (written for betterform's tests). */

var executor = function (_a) {
    var inputs = _a.inputs, target = _a.target, context = _a.context;
    return Promise.resolve().then(function () {
        context.print("upload " + inputs.fileName + " to " + target.containerName + " x" + target.replicas);
        context.print("with key " + target.accountKey);
        context.print("target " + JSON.stringify(target));
    });
};

module.exports = executor;
//# sourceMappingURL=executor.js.map
