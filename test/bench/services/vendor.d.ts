// Types for the untyped corner of a vendor library, used only by aedes.ts.
declare module 'aedes-persistence-level' {
  /** The callback-style Aedes persistence over a `level` database (module.exports = factory). */
  export default function createLevelPersistence(db: object): { destroy(): Promise<void> | undefined };
}
