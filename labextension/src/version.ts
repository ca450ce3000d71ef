/** Name and version of the widget module, as the Python side refers to them. */
export const MODULE_NAME = 'nbpipe';

/** Version this front end registers with the widget registry. */
export const MODULE_VERSION = '0.1.0';

/** Semver range the models declare for `_model_module_version`/`_view_module_version`. */
export const MODULE_VERSION_RANGE = '^0.1.0';
