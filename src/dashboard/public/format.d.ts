// Types for format.js, which the browser loads as it is.
export function humanCount(n: number): string;
export function humanDuration(ms: number): string;
export function humanRate(tps: number): string;
export function humanPercent(ratio: number): string;
export function shortDate(iso: string): string;
export function summaryLine(prompt: number, generated: number, requests: number, sinceIso: string): string;
