// The modeler in Chinese (issue 11): bpmn.io's `translate` service overridden with a zh dictionary, as in
// bpmn-io/bpmn-js-examples `i18n`. English stays when the user chose English (the page passes its language).
import zh from "./zh.js";

/** A translate function for a language: the dictionary's text with {placeholders} filled in. */
export function translator(lang) {
  const dictionary = lang === "zh" ? zh : {};
  return function translate(template, replacements = {}) {
    const text = dictionary[template] ?? template;
    return text.replace(/{([^}]+)}/g, (_, key) => (key in replacements ? String(replacements[key]) : `{${key}}`));
  };
}

/** The bpmn-js module that replaces the translate service. */
export function translateModule(lang) {
  return { translate: ["value", translator(lang)] };
}
